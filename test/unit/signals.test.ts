// `up` and `down` signal the supervisor's process group by a number read from state.json. A number
// the kernel may have handed out again is no proof: only a group whose leader is proven (PID and
// start time) is signalled whole, and after a leader died, only the processes the status file
// recorded (PID and start time) and their descendants.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { supervisorResource, provenMembers } from '../../src/supervisor/resource.js';
import { identify, parseProcStat, procStat } from '../../src/sys/proc-identity.js';
import { System } from '../../src/sys/system.js';
import type { Context } from '../../src/core/resource.js';
import type { Config } from '../../src/config/types.js';
import type { Names } from '../../src/core/names.js';
import type { State } from '../../src/core/state.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started: ChildProcess[] = [];
const dirs: string[] = [];
after(() => {
  for (const c of started) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const NS = 'vpnns-signal-test';

/** A process group of its own whose leader's argv says what a supervisor's says: only its start time tells it apart. */
function lookalike(): ChildProcess {
  const c = spawn('/bin/bash', ['-c', `exec -a "vpnns supervise --namespace ${NS}" sleep 60`], { detached: true, stdio: 'ignore' });
  started.push(c);
  return c;
}

function ctxFor(runtime: Record<string, unknown>, statusDoc?: unknown): Context {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-signals-'));
  dirs.push(dir);
  if (statusDoc) writeFileSync(join(dir, 'status.private.json'), JSON.stringify(statusDoc), { mode: 0o600 });
  const state = { version: 1, namespace: NS, hostNetns: 'net:1', startedAt: '', config: {} as Config, applied: [], runtime } as State;
  return { sys: new System(false), cfg: {} as Config, names: { ns: NS, stateDir: dir } as Names, state, say: () => {}, saveState: async () => {} };
}

const alive = (pid: number) => {
  const st = procStat(pid);
  return st !== undefined && st.state !== 'Z';
};

async function waitArgv(c: ChildProcess): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const st = procStat(c.pid!);
    if (st && st.state !== 'Z') {
      const { readFileSync } = await import('node:fs');
      if (readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').includes('supervise')) return;
    }
    await sleep(20);
  }
}

test('/proc/PID/stat: fields after a command name with spaces and parentheses', () => {
  const st = parseProcStat(42, '42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10');
  assert.deepEqual(st, { pid: 42, state: 'S', ppid: 1, pgid: 42, sid: 42, start: 987654 });
  assert.equal(identify(process.pid)?.pid, process.pid);
});

test('signals: a state file naming a reused PID (argv alike, start time not the recorded one) signals nothing', async () => {
  const other = lookalike();
  await waitArgv(other);
  const id = identify(other.pid)!;
  const ctx = ctxFor({ supervisorPid: id.pid, supervisorStart: id.start - 1 });
  assert.equal(await supervisorResource.check(ctx), false, 'not taken for a running supervisor');
  await supervisorResource.remove(ctx);
  await sleep(200);
  assert.ok(alive(id.pid), 'the stranger\'s group was not signalled');
});

test('signals: the proven leader (PID and start time) has its whole group signalled', async () => {
  const ours = lookalike();
  await waitArgv(ours);
  const id = identify(ours.pid)!;
  const ctx = ctxFor({ supervisorPid: id.pid, supervisorStart: id.start });
  assert.equal(await supervisorResource.remove(ctx), true);
  for (let i = 0; i < 50 && alive(id.pid); i++) await sleep(20);
  assert.equal(alive(id.pid), false, 'the group was signalled');
  assert.equal(ctx.state.runtime.supervisorPid, undefined);
});

/** A group whose leader is gone, one member left: `sleep`. */
async function leaderless(): Promise<{ pgid: number; member: number }> {
  const c = spawn('/bin/sh', ['-c', 'sleep 60 >/dev/null 2>&1 & echo $!'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(c);
  let out = '';
  c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => c.on('close', r));
  return { pgid: c.pid!, member: Number(out.trim()) };
}

test('signals: a leaderless group is not signalled by its number; only a process the status file recorded (PID and start time) is', async () => {
  const g = await leaderless();
  assert.ok(alive(g.member));
  assert.equal(procStat(g.member)?.pgid, g.pgid);
  // The state names the group; the status file records nothing of it (or another start time).
  const stranger = ctxFor({ supervisorPid: g.pgid, supervisorStart: 1 }, { pid: g.pgid, pidStart: 1, components: { forward: { pid: g.member, pidStart: identify(g.member)!.start + 7 } } });
  assert.equal(await supervisorResource.remove(stranger), false);
  await sleep(200);
  assert.ok(alive(g.member), 'a member nobody recorded was left alone');
  const recorded = ctxFor({ supervisorPid: g.pgid, supervisorStart: 1 }, { pid: g.pgid, pidStart: 1, components: { forward: { pid: g.member, pidStart: identify(g.member)!.start } } });
  assert.equal(await supervisorResource.remove(recorded), true);
  for (let i = 0; i < 50 && alive(g.member); i++) await sleep(20);
  assert.equal(alive(g.member), false, 'the recorded orphan was ended');
});

test('proven members: recorded roots and their descendants, in that group only', () => {
  const p = (pid: number, ppid: number, pgid: number, start = pid * 10) => ({ pid, ppid, pgid, sid: pgid, start, state: 'S' });
  const procs = [p(10, 1, 10), p(11, 10, 10), p(12, 11, 10), p(13, 11, 99), p(20, 1, 10), p(30, 1, 10, 5)];
  // 10 recorded; 11, 12 descend from it; 13 left the group; 20 nobody recorded; 30 has another start time.
  assert.deepEqual(provenMembers(10, [{ pid: 10, start: 100 }, { pid: 30, start: 300 }], procs), [10, 11, 12]);
});
