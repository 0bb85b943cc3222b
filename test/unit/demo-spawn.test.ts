// The demo's steps start through its System (src/demo/spawn.ts): against the recording executor, a
// step is a child of its own process group whose output and exit code are the step's result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runIsolated, startIsolated } from '../../src/demo/spawn.js';
import { RecordingExecutor } from '../../src/sys/recording.js';
import { System } from '../../src/sys/system.js';

test('runIsolated: the step starts in its own process group; its output and exit code are the result', async () => {
  const exec = new RecordingExecutor();
  const sys = new System(false, exec);
  const ran = runIsolated(sys, ['nsenter', '--net=/run/netns/vdx-host', '--', 'vpnns', 'status'], { timeoutMs: 60_000, env: { A: '1' } });
  assert.deepEqual(exec.changes(), ['child nsenter --net=/run/netns/vdx-host -- vpnns status']);
  assert.equal(exec.calls[0]!.kind === 'startChild' && exec.calls[0]!.ownGroup, true);
  const child = exec.children[0]!;
  child.write('stdout', 'up\n');
  child.write('stderr', 'warning\n');
  child.exit(2);
  assert.deepEqual(await ran, { code: 2, stdout: 'up\n', stderr: 'warning\n' });
  assert.deepEqual(sys.actions, ['$ nsenter --net=/run/netns/vdx-host -- vpnns status &']);
});

test('startIsolated: the app is a child of the System; its output is kept', async () => {
  const exec = new RecordingExecutor();
  const app = startIsolated(new System(false, exec), ['node', '-e', 'server']);
  assert.equal(app.pid, exec.children[0]!.pid);
  exec.children[0]!.write('stdout', 'listening\n');
  await new Promise((r) => setImmediate(r));
  assert.equal(app.output(), 'listening\n');
  exec.children[0]!.exit(0);
  await app.stop();
});
