// `vpnns demo` end to end: the real CLI, run as a user would (from this machine's namespace; the
// demo builds its own world). Every step's key line must show, it must exit 0, and nothing it made
// may remain — also when it is interrupted, twice, in the middle of `vpnns up`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { BIN } from './harness.js';
import { leftovers } from '../../src/demo/session.js';
import { sweepStaleWorlds } from '../../src/world/world.js';

const canRun = process.getuid?.() === 0;
const children: ChildProcess[] = [];

interface Demo {
  child: ChildProcess;
  out(): string;
  err(): string;
  /** Resolves when stdout has a line matching `re` (rejects if the demo exits first). */
  waitFor(re: RegExp): Promise<void>;
  exited: Promise<number>;
}

function startDemo(): Demo {
  const child = spawn(process.execPath, [BIN, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of [...waiters]) if (w.re.test(out)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  // A safety net, not a timing assertion: a hung demo must not hang the suite.
  const guard = setTimeout(() => child.kill('SIGKILL'), 240_000);
  const exited = new Promise<number>((r) =>
    child.on('close', (code, sig) => {
      clearTimeout(guard);
      r(code ?? (sig ? 128 : 1));
    }),
  );
  return {
    child,
    out: () => out,
    err: () => err,
    waitFor: (re) =>
      new Promise((resolve, reject) => {
        if (re.test(out)) return resolve();
        waiters.push({ re, resolve });
        void exited.then((code) => reject(new Error(`demo exited ${code} before printing ${re}:\n${out}\n${err}`)));
      }),
    exited,
  };
}

function prefixOf(out: string): string {
  const m = /namespaces (vd[0-9a-f]{4})-\*/.exec(out);
  assert.ok(m, `no world prefix in the output:\n${out}`);
  return m[1]!;
}

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  // A demo killed above leaves a world whose owner is dead: remove it.
  await sweepStaleWorlds();
});

test('vpnns demo runs every step, exits 0 and leaves nothing behind', { skip: !canRun && 'needs root' }, async () => {
  const d = startDemo();
  const code = await d.exited;
  const out = d.out();
  assert.equal(code, 0, `exit ${code}\n${out}\n${d.err()}`);
  for (const re of [
    /^\[1\/7\] building a simulated internet \(namespaces vd[0-9a-f]{4}-\*\)\.\.\. done in [\d.]+ s$/m,
    /^\[2\/7\] starting vpnns with WireGuard \(vpnns up\)\.\.\. done/m,
    /^ +from the host: +203\.0\.113\.10 .*DNS answered by 198\.51\.100\.53/m,
    /^ +from inside: +198\.51\.100\.10 +\(the VPN server\) .*DNS answered by 10\.66\.0\.1/m,
    /^ +egress +PASS/m,
    /^ +dns +PASS/m,
    /all checks passed/,
    /--socks5-hostname 127\.0\.0\.1:1080 http:\/\/echo\.example\.test\/ +-> 198\.51\.100\.10$/m,
    /-x http:\/\/127\.0\.0\.1:1090 http:\/\/echo\.example\.test\/ +-> 198\.51\.100\.10$/m,
    /^ +hello from an app inside the namespace; you came in as 10\.0\.0\.1$/m,
    /^\[7\/7\] removing everything .*\.\.\. done/m,
    /is down\./,
    /every step worked, in [\d.]+ s; nothing is left behind\./,
  ]) {
    assert.match(out, re);
  }
  const prefix = prefixOf(out);
  assert.deepEqual(leftovers(prefix, `${prefix}-v`), []);
  assert.equal(existsSync(`/tmp/vpnns-world-${prefix}`), false, 'run directory removed');
});

test('Ctrl-C in the middle of `vpnns up`, pressed twice: everything is torn down, exit 130', { skip: !canRun && 'needs root' }, async () => {
  const d = startDemo();
  await d.waitFor(/^\[1\/7\] .*done in/m);
  // Step 2 (`vpnns up`) is under way now: interrupt it, and again while the teardown runs.
  await new Promise((r) => setTimeout(r, 700));
  d.child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 300));
  d.child.kill('SIGINT');
  const code = await d.exited;
  const out = d.out();
  assert.equal(code, 130, `exit ${code}\n${out}\n${d.err()}`);
  assert.match(d.err(), /Ctrl-C: stopping and removing everything/);
  assert.match(d.err(), /still removing everything; please wait/, 'the second Ctrl-C did not cut the teardown short');
  assert.match(d.err(), /interrupted; everything it made was removed\./);
  assert.match(out, /^\[7\/7\] removing everything .*\.\.\. done/m);
  const prefix = prefixOf(out);
  assert.deepEqual(leftovers(prefix, `${prefix}-v`), []);
  assert.equal(existsSync(`/tmp/vpnns-world-${prefix}`), false, 'run directory removed');
});
