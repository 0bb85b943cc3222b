import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REBIND_EXIT, REBIND_PERL, rebindArgv } from '../../src/net/dns-guard.js';

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
