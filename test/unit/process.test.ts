import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullArgv } from '../../src/sys/process.js';
import { ENV_SCRIPT } from '../../src/sandbox/launch.js';
import { formatArgv } from '../../src/sys/exec.js';

test('fullArgv: plain argv is copied, not shared', () => {
  const argv = ['/usr/bin/danted', '-f', '/run/x.conf'];
  const out = fullArgv({ name: 'socks', argv });
  assert.deepEqual(out, argv);
  out.push('mutated');
  assert.equal(argv.length, 3);
});

test('fullArgv: ip netns exec outermost, then setpriv (group), then runuser (user)', () => {
  assert.deepEqual(fullArgv({ name: 'x', netns: 'vpn-ns', gid: 51820, user: 'alice', argv: ['prog', '--flag'] }), [
    '/usr/sbin/ip', 'netns', 'exec', 'vpn-ns',
    '/usr/bin/setpriv', '--regid=51820', '--clear-groups', '--',
    '/usr/sbin/runuser', '-u', 'alice', '--',
    // The user's environment is read only after the drop (fd 3), by the user's own process.
    '/usr/bin/perl', '-e', ENV_SCRIPT, '--', 'fd:3', '--',
    'prog', '--flag',
  ]);
});

test('fullArgv: each wrapper on its own', () => {
  assert.deepEqual(fullArgv({ name: 'x', netns: 'n', argv: ['p'] }), ['/usr/sbin/ip', 'netns', 'exec', 'n', 'p']);
  assert.deepEqual(fullArgv({ name: 'x', gid: 0, argv: ['p'] }), ['/usr/bin/setpriv', '--regid=0', '--clear-groups', '--', 'p']);
  assert.deepEqual(fullArgv({ name: 'x', user: 'bob', argv: ['p'] }), ['/usr/sbin/runuser', '-u', 'bob', '--', '/usr/bin/perl', '-e', ENV_SCRIPT, '--', 'fd:3', '--', 'p']);
  // An app as root: no runuser, but its environment still skips the root helpers.
  assert.deepEqual(fullArgv({ name: 'x', netns: 'n', sandbox: { uid: 0, gid: 0, hide: [], unset: [] }, argv: ['p'] }), ['/usr/sbin/ip', 'netns', 'exec', 'n', '/usr/bin/perl', '-e', ENV_SCRIPT, '--', 'fd:3', '--', 'p']);
  // The kill switch matches the client's group: setpriv must run inside the namespace, directly on the client.
  const withGid = fullArgv({ name: 'vpn', netns: 'n', gid: 51820, argv: ['/usr/bin/openvpn'] });
  assert.deepEqual(withGid.slice(4), ['/usr/bin/setpriv', '--regid=51820', '--clear-groups', '--', '/usr/bin/openvpn']);
});

test('fullArgv: wrappers are absolute paths (a user PATH may lack /usr/sbin)', () => {
  const argv = fullArgv({ name: 'x', netns: 'n', gid: 1, user: 'u', argv: ['p'] });
  for (const bin of ['ip', 'setpriv', 'runuser']) assert.ok(argv.some((a) => a.startsWith('/') && a.endsWith(`/${bin}`)), bin);
});

test('formatArgv: plain words bare, anything a shell would read specially is single-quoted', () => {
  assert.equal(formatArgv(['ip', '-n', 'vpn-ns', 'addr', 'add', '10.0.0.2/24', 'dev', 'vn-vpn-ns']), 'ip -n vpn-ns addr add 10.0.0.2/24 dev vn-vpn-ns');
  assert.equal(formatArgv(['echo', 'a b']), "echo 'a b'");
  assert.equal(formatArgv(['echo', "it's"]), `echo 'it'\\''s'`);
  assert.equal(formatArgv(['echo', '']), "echo ''");
  assert.equal(formatArgv(['nft', 'add', 'rule', 'x', 'oifname', '"tun*"']), `nft add rule x oifname '"tun*"'`);
  for (const s of ['$HOME', '`id`', 'a;b', 'a|b', 'a&b', '*', '~', 'a\nb', '!x', '(x)']) {
    assert.equal(formatArgv([s]), `'${s}'`, JSON.stringify(s));
  }
});

// Found in CI: OpenVPN printing its shutdown after 'exit' made the log a write after end, an
// unhandled 'error' that took the supervisor down. A child that leaves a writer on its pipes is the
// deterministic form of that race; run it in a separate Node so a crash is a failure, not the runner's.
test('startProcess: output that arrives after the child exits is logged, and nothing crashes', async () => {
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { spawnSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-proc-'));
  try {
    const mod = new URL('../../src/sys/process.js', import.meta.url).href;
    const script = `
      import { startProcess } from ${JSON.stringify(mod)};
      for (let i = 0; i < 30; i++) {
        const p = startProcess({ name: 't', argv: ['/bin/sh', '-c', '(for i in 1 2 3 4 5 6 7 8; do echo late$i; done) & exit 0'] },
          { logFile: ${JSON.stringify(join(dir, 'out.log'))} });
        await p.exited;
      }
      await new Promise((r) => setTimeout(r, 300));
      console.log('survived');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /survived/);
    assert.equal(readFileSync(join(dir, 'out.log'), 'utf8').split('\n').filter((l) => l === 'late8').length, 30, 'every late line is in the log');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
