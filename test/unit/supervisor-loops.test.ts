// The supervisor runs for weeks: nothing it waits on may outlive the wait. These tests count what is
// pending (abort listeners on the supervisor's signal, listeners on its event emitter) after a few
// and after many sleeps / crash-restarts, and the numbers must be the same. They also drive the
// control socket the CLI uses: a hostile request (unknown op, unknown field, long line) is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, getEventListeners } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { namesFor } from '../../src/core/names.js';
import { Supervisor, specKey } from '../../src/supervisor/supervisor.js';
import { childController, nextEvent, sleepUnless, unlessAborted, ABORTED } from '../../src/supervisor/abort.js';
import { parseRequest, controlSocketPath, MAX_LINE, ProtocolError } from '../../src/supervisor/control-protocol.js';
import { request } from '../../src/supervisor/control-client.js';
import type { ServiceSpec } from '../../src/core/services.js';
import type { State } from '../../src/core/state.js';

const abortListeners = (s: AbortSignal) => getEventListeners(s, 'abort').length;

test('abort helpers: after 1 or 1000 sleeps, nexts and children, the parent signal has the same listeners', async () => {
  const root = new AbortController();
  const ee = new EventEmitter();
  const round = async () => {
    const c = childController(root.signal);
    const waits = [sleepUnless(1, c.signal), nextEvent(ee, 'x', c.signal), unlessAborted(new Promise(() => {}), c.signal)];
    await waits[0];
    c.dispose();
    assert.equal(await waits[1], ABORTED);
    assert.equal(await waits[2], ABORTED);
  };
  await round();
  const after1 = { abort: abortListeners(root.signal), x: ee.listenerCount('x') };
  for (let i = 0; i < 1000; i++) await round();
  assert.deepEqual({ abort: abortListeners(root.signal), x: ee.listenerCount('x') }, after1);
  assert.deepEqual(after1, { abort: 0, x: 0 });
  // A sleep that ends by itself also leaves nothing on the signal.
  for (let i = 0; i < 100; i++) await sleepUnless(0, root.signal);
  assert.equal(abortListeners(root.signal), 0);
});

async function tmpSupervisor(services: (n: ReturnType<typeof namesFor>) => ServiceSpec[]) {
  const dir = await mkdtemp(join(tmpdir(), 'vpnns-sup-'));
  const cfg = parseConfig([`namespace: vtsup${process.pid % 10000}`, 'vpn: { type: none }', `logDir: ${dir}/log`].join('\n'));
  const names = { ...namesFor(cfg), stateDir: `${dir}/run`, lockFile: `${dir}/run/lock` };
  const state: State = { version: 1, namespace: cfg.namespace, hostNetns: 'x', startedAt: '', config: cfg, applied: [], runtime: {} };
  const sup = new Supervisor(cfg, names, state, { services: () => services(names), noDnsGuard: true, backoff: { firstMs: 0, baseMs: 1, maxMs: 5, resetAfterMs: 60_000 } });
  const running = sup.run();
  return { dir, sup, names, running };
}

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function pending(sup: Supervisor) {
  return {
    abort: abortListeners(sup.signal),
    tunnelUp: sup.events.listenerCount('tunnel-up'),
    tunnelDown: sup.events.listenerCount('tunnel-down'),
    status: sup.events.listenerCount('status'),
  };
}

/** This process's open fds and RSS (KiB): the supervisor under test runs in it. */
const fdCount = () => readdirSync('/proc/self/fd').length;
const rssKiB = () => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);

test('a crash-looping service: after 3 and after 100+ restarts the same waiters, listeners and open fds, and RSS steady; status says crash-looping with the exit code', async () => {
  const { dir, sup, running } = await tmpSupervisor(() => [
    { name: 'crasher', process: { name: 'crasher', argv: ['/bin/sh', '-c', 'exit 3'] }, needsTunnel: false, followsTunnel: true },
    { name: 'steady', process: { name: 'steady', argv: ['/bin/sleep', '600'] }, needsTunnel: false },
  ]);
  try {
    const c = () => sup.status.components.crasher;
    await until('3 restarts', () => (c()?.restarts ?? 0) >= 3 && c()?.state === 'backoff');
    const early = pending(sup);
    const fd0 = fdCount();
    const rss0 = rssKiB();
    const steadyPid = sup.status.components.steady?.pid;
    await until('105 restarts', () => (c()?.restarts ?? 0) >= 105 && c()?.state === 'backoff', 60_000);
    assert.deepEqual(pending(sup), early, 'nothing pending grows with the restarts');
    // In backoff both times: no child of the crasher is open then. A pipe or log fd kept per restart
    // would be 100 more; the test runner's own come and go by one or two.
    assert.ok(fdCount() <= fd0 + 2, `open fds ${fd0} -> ${fdCount()} over ${c()!.restarts - 3} restarts`);
    assert.ok(rssKiB() - rss0 < 8 * 1024, `RSS ${rss0} -> ${rssKiB()} KiB over ${c()!.restarts - 3} restarts`);
    assert.equal(c()!.crashLooping, true);
    assert.equal(c()!.lastExitCode, 3);
    assert.equal(c()!.lastError, 'exited (code 3)');
    assert.equal(sup.status.components.steady?.pid, steadyPid, 'the other service was never touched');
    assert.ok(early.abort <= 4, `one abort listener per loop and little else: ${JSON.stringify(early)}`);
  } finally {
    await sup.stop();
    await running;
    assert.deepEqual(pending(sup), { abort: 0, tunnelUp: 0, tunnelDown: 0, status: 0 }, 'stop() leaves nothing behind');
    await rm(dir, { recursive: true, force: true });
  }
});

test('the control socket: 0600, answers status, refuses unknown ops, unknown fields and a line over the limit', async () => {
  const { dir, sup, names, running } = await tmpSupervisor(() => []);
  try {
    await until('the socket', () => sup.status.components !== undefined && sup.loopCount === 0);
    const path = controlSocketPath(names);
    for (let i = 0; i < 100; i++) {
      try {
        await stat(path);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const st = await request<{ pid: number }>(names, { op: 'status' });
    assert.equal(st.pid, process.pid);
    await assert.rejects(request(names, { op: 'exec' as never }), /unknown op/);
    await assert.rejects(request(names, { op: 'app.start', args: { service: 'x', argv: ['/bin/sh'] } }), /takes no argument "argv"/);
    await assert.rejects(request(names, { op: 'app.start', args: { service: '../etc' } }), /service must be/);
    // A line without end: refused once it passes the limit, and the connection is closed.
    const answer = await new Promise<string>((resolve) => {
      const s = connect(path);
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('close', () => resolve(got));
      s.on('connect', () => s.write('x'.repeat(MAX_LINE + 10)));
    });
    assert.match(answer, /request too long/);
    assert.equal((await request<{ pid: number }>(names, { op: 'ping' })).pid, process.pid, 'still serving after the hostile ones');
  } finally {
    await sup.stop();
    await running;
    await rm(dir, { recursive: true, force: true });
  }
});

test('control protocol: every field checked, defaults filled in', () => {
  assert.deepEqual(parseRequest('{"op":"publish.add","args":{"target":"3000"}}').req, { op: 'publish.add', args: { target: '3000', dryRun: false, waitMs: 60_000 } });
  assert.throws(() => parseRequest('{"op":"publish.add","args":{"target":"3000","host":"127.0.0.1:9000; rm"}}'), ProtocolError);
  assert.throws(() => parseRequest('{"op":"publish.add","args":{"target":"3000","via":"shell"}}'), ProtocolError);
  assert.throws(() => parseRequest('{"op":"app.stop","args":{"service":"a","waitMs":1e12}}'), ProtocolError);
  assert.throws(() => parseRequest('{"op":"ping","extra":1}'), ProtocolError);
  assert.throws(() => parseRequest('[1]'), ProtocolError);
  assert.throws(() => parseRequest('{"op":"__proto__"}'), ProtocolError);
});

test('a service whose prepare() adds to its spec (code-server\'s PASSWORD) keeps its process across app start/stop of another', async () => {
  const render = (): ServiceSpec[] => {
    const env: Record<string, string> = { A: '1' };
    return [
      {
        name: 'app-editor',
        process: { name: 'app-editor', argv: ['/bin/sleep', '600'], env },
        needsTunnel: false,
        // What the code-server profile does: the password goes into the environment it was given.
        prepare: async () => void (env.PASSWORD = 'secret'),
      },
      { name: 'app-other', process: { name: 'app-other', argv: ['/bin/sleep', '600'] }, needsTunnel: false, manual: true },
    ];
  };
  const { dir, sup, names, running } = await tmpSupervisor(render);
  try {
    await until('the editor', () => sup.status.components['app-editor']?.state === 'running');
    const pid = sup.status.components['app-editor']!.pid;
    await until('the socket', () => sup.loopCount === 1);
    for (let i = 0; i < 100; i++) {
      if (await request(names, { op: 'ping' }).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const started = await request<{ state: string; pid: number }>(names, { op: 'app.start', args: { service: 'app-other', waitMs: 10_000 } }, 15_000);
    assert.equal(started.state, 'running');
    await request(names, { op: 'app.stop', args: { service: 'app-other', waitMs: 10_000 } }, 15_000);
    assert.equal(sup.status.components['app-other']?.state, 'stopped');
    assert.equal(sup.status.components['app-editor']?.pid, pid, 'the editor was not restarted');
    assert.equal(sup.status.components['app-editor']?.restarts, 0);
    const [spec] = render();
    assert.equal(specKey(spec!), specKey(render()[0]!), 'the same config renders the same key');
  } finally {
    await sup.stop();
    await running;
    await rm(dir, { recursive: true, force: true });
  }
});
