import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { DnsGuard, REBIND_EXIT, REBIND_PERL, rebindArgv } from '../../src/net/dns-guard.js';
import { RecordingExecutor } from '../../src/sys/recording.js';
import { System } from '../../src/sys/system.js';
import { spawnArgv } from '../../src/sys/spawn.js';
import { sleep } from '../../src/sys/process.js';

test('dns guard: the repair is our perl with a fixed program, never a program looked up in the target (no nsenter, no shell)', () => {
  const argv = rebindArgv('/usr/bin/perl', 'x64', 4242, 4026532000, 'vpn-ns')!;
  assert.deepEqual(argv.slice(0, 3), ['/usr/bin/perl', '-e', REBIND_PERL]);
  // `--` ends perl's options: nothing after it can be taken for a switch.
  assert.deepEqual(argv.slice(3), ['--', '4242', '4026532000', '308', '165', '/etc/netns/vpn-ns', 'resolv.conf', 'nsswitch.conf']);
  assert.ok(!argv.some((a) => /nsenter|\/bin\/sh/.test(a)));
});

test('dns guard: after setns the program only makes system calls (no exec, no module, no file of the target is run)', () => {
  const code = REBIND_PERL.split('\n').map((l) => l.replace(/^\s*#.*$/, '')).join('\n');
  const afterSetns = code.slice(code.indexOf('syscall($SETNS'));
  assert.ok(afterSetns.length > 0);
  for (const bad of [/\bsystem\b/, /\bexec\b/, /`/, /\brequire\b/, /\buse\b\s+\w/, /\bdo\s+['"$]/, /\beval\b/, /open\s*\(/]) {
    assert.doesNotMatch(afterSetns, bad);
  }
  // And nothing loads a module before it either (a `use` is compiled in our namespace, but keep it simple).
  assert.doesNotMatch(REBIND_PERL, /^\s*(use|require)\s/m);
});

test('dns guard: no argv for an unknown architecture or a PID that is not a number', () => {
  assert.equal(rebindArgv('/usr/bin/perl', 'mips' as NodeJS.Architecture, 1, 2, 'n'), undefined);
  assert.equal(rebindArgv('/usr/bin/perl', 'x64', Number.NaN, 2, 'n'), undefined);
  assert.equal(rebindArgv('/usr/bin/perl', 'x64', -1, 2, 'n'), undefined);
  assert.equal(rebindArgv('/usr/bin/perl', 'x64', 5, 0, 'n'), undefined);
});

test('dns guard: the perl program compiles, and a PID that is gone (or a namespace that changed) is a clean exit 3', { skip: spawnSync('/usr/bin/perl', ['-e', '1']).status !== 0 && 'no perl' }, () => {
  const c = spawnSync('/usr/bin/perl', ['-c', '-e', REBIND_PERL], { encoding: 'utf8' });
  assert.equal(c.status, 0, c.stderr);
  const gone = spawnSync('/usr/bin/perl', ['-e', REBIND_PERL, '--', '999999999', '1', '308', '165', '/nonexistent', 'resolv.conf'], { encoding: 'utf8' });
  assert.equal(gone.status, REBIND_EXIT.gone);
  // Our own namespace with a wrong inode: the PID now names another namespace than the one looked at.
  const changed = spawnSync('/usr/bin/perl', ['-e', REBIND_PERL, '--', String(process.pid), '1', '308', '165', '/nonexistent', 'resolv.conf'], { encoding: 'utf8' });
  assert.equal(changed.status, REBIND_EXIT.gone);
});

test('dns guard: a namespace left alone is trusted only while the very process it was seen in holds it (the kernel reuses namespace numbers at once)', { skip: process.getuid?.() !== 0 && 'needs root (unshare -m)' }, async () => {
  // A and B share one new mount namespace; the fake helper says "another user namespace" for it.
  const a = spawnArgv(['unshare', '--mount', '--propagation', 'private', '--', 'sleep', '30'], { stdio: 'ignore' });
  try {
    let mnt = '';
    for (let i = 0; i < 100 && (!mnt || mnt === readlinkSync('/proc/self/ns/mnt')); i++) {
      await sleep(20);
      mnt = readlinkSync(`/proc/${a.pid}/ns/mnt`);
    }
    const b = spawnArgv(['nsenter', `--mount=/proc/${a.pid}/ns/mnt`, '--', 'sleep', '30'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && readlinkSync(`/proc/${b.pid}/ns/mnt`) !== mnt; i++) await sleep(20);
      const exec = new RecordingExecutor();
      let pids = [a.pid!, b.pid!];
      exec.on(['ip', 'netns', 'pids'], () => ({ stdout: pids.join('\n') }));
      exec.on((argv) => argv[0]!.endsWith('perl'), { code: REBIND_EXIT.foreignUserns });
      const guard = new DnsGuard(new System(false, exec), { ns: 'ut' }, 'x64');
      const asked = () => exec.calls.filter((c) => c.kind === 'run' && c.argv[0]!.endsWith('perl')).length;
      assert.equal((await guard.sweep()).skipped.length, 1);
      await guard.sweep();
      assert.equal(asked(), 1, 'asked once while the process it was seen in lives');
      a.kill('SIGKILL');
      for (let i = 0; i < 100 && existsSync(`/proc/${a.pid}/ns`); i++) await sleep(20);
      pids = [b.pid!];
      await guard.sweep();
      assert.equal(asked(), 2, 'asked again once that process is gone: the number alone proves nothing');
    } finally {
      b.kill('SIGKILL');
    }
  } finally {
    a.kill('SIGKILL');
  }
});
