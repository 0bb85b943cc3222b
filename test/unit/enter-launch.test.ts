// ENTER_SCRIPT, the one root process of `vpnns exec` (enter the namespace, hide the channels, drop
// to the user, then read the environment): its argv, and a real run in a throwaway namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ENTER_SCRIPT, ENTER_SYSCALLS, enterArgv, PERL } from '../../src/sandbox/launch.js';
import { renderLaunch } from '../../src/sandbox/index.js';
import { helperEnv } from '../../src/sandbox/clean-env.js';

const alice = { name: 'alice', uid: 1000, gid: 1000 };

test('enterArgv: fixed script, then data only (syscall numbers, namespace, user, paths), `--`, the program', () => {
  const argv = enterArgv({ ns: 'vpn-ns', user: alice, hide: [{ kind: 'dir', path: '/tmp/tmux-1000', create: true, channel: 'tmux' }], cmd: ['curl', '-s', '--', 'x'] }, 'x64')!;
  assert.deepEqual(argv.slice(0, 4), [PERL, '-e', ENTER_SCRIPT, '--']);
  assert.deepEqual(argv.slice(4, 11), ENTER_SYSCALLS.x64!.map(String));
  assert.deepEqual(argv.slice(11), ['vpn-ns', 'alice', '1000', '1000', 'mkdir:/tmp/tmux-1000', '--', 'curl', '-s', '--', 'x']);
  // A user name that looks like an option is only ever a value at its place.
  assert.equal(enterArgv({ ns: 'n', user: { name: '-evil', uid: 1001, gid: 1001 }, hide: [], cmd: ['id'] }, 'x64')![12], '-evil');
  // Unknown system call numbers: no argv, the caller falls back to the chain.
  assert.equal(enterArgv({ ns: 'n', user: alice, hide: [], cmd: ['id'] }, 'mips'), undefined);
  // The systemd units read their environment from a file: not this launcher's job.
  assert.equal(enterArgv({ ns: 'n', user: alice, hide: [], cmd: ['id'], envFrom: '/run/x' }, 'x64'), undefined);
});

test('renderLaunch uses the one-process launcher where the numbers are known; the first process has the clean environment', { skip: !ENTER_SYSCALLS[process.arch] && 'unknown architecture' }, () => {
  const l = renderLaunch({ ns: 'n', user: { ...alice, home: '/home/alice', shell: '/bin/bash' }, sandbox: undefined, cmd: ['id'], callerEnv: { LD_PRELOAD: '/tmp/evil.so' } });
  assert.equal(l.argv[2], ENTER_SCRIPT);
  assert.deepEqual(l.env, helperEnv());
  assert.ok(!l.argv.some((a) => a.includes('evil')));
});

const root = process.getuid?.() === 0 && !!ENTER_SYSCALLS[process.arch] && spawnSync('ip', ['netns', 'list']).status === 0;

test('ENTER_SCRIPT for real: inside the namespace as nobody with nobody\'s groups, HOME from passwd, the environment set only after the drop', { skip: !root && 'needs root, ip and a known architecture' }, () => {
  const ns = `vnu${process.pid}`;
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
  try {
    const nogroup = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim());
    const show = 'id -u; id -G; echo "$HOME|$USER|$A"; ls /sys/class/net; grep -E "^CapEff" /proc/self/status';
    const argv = enterArgv({ ns, user: { name: 'nobody', uid: 65534, gid: nogroup }, hide: [], cmd: ['/bin/sh', '-c', show] })!;
    // The payload on fd 3 from a file (spawnSync cannot write a pipe on fd 3).
    const payload = `/tmp/vnu-env-${process.pid}`;
    spawnSync('sh', ['-c', 'printf "A=1\\0HOME=/evil\\0" > "$1"', 'sh', payload]);
    const run = spawnSync('sh', ['-c', 'exec "$@" 3<"$0"', payload, ...argv], { encoding: 'utf8', env: helperEnv() });
    spawnSync('rm', ['-f', payload]);
    assert.equal(run.status, 0, run.stderr);
    const [uid, groups, envLine, ...rest] = run.stdout.trim().split('\n');
    assert.equal(uid, '65534');
    assert.equal(groups, String(nogroup));
    // HOME/USER from passwd; what fd 3 says is set after the drop (HOME from the payload wins, as ENV_SCRIPT did).
    assert.equal(envLine, '/evil|nobody|1');
    assert.deepEqual(rest.slice(0, -1), ['lo'], 'only the namespace\'s interfaces under /sys');
    assert.match(rest.at(-1)!, /^CapEff:\s+0+$/);
    const missing = enterArgv({ ns: `${ns}-none`, user: { name: 'nobody', uid: 65534, gid: nogroup }, hide: [], cmd: ['/bin/true'] })!;
    const m = spawnSync('sh', ['-c', 'exec "$@" 3</dev/null', 'sh', ...missing], { encoding: 'utf8', env: helperEnv() });
    assert.equal(m.status, 126);
    assert.match(m.stderr, /^vpnns: cannot open network namespace/);
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});
