import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/command.js';

function io(): Io & { outs: string[]; errs: string[] } {
  const outs: string[] = [];
  const errs: string[] = [];
  return { outs, errs, out: (l = '') => outs.push(l), err: (l) => errs.push(l), isTTY: false };
}

test('--dry-run on a command that cannot honour it is refused before anything runs', async () => {
  // (`app start` was here: it honours --dry-run now, see the test below.)
  for (const argv of [['exec', '--dry-run', '--', 'true'], ['browser', '--dry-run'], ['demo', '--dry-run']]) {
    const o = io();
    const code = await main(argv, o);
    assert.equal(code, 2, `${argv.join(' ')}: ${o.errs.join('\n')}`);
    assert.deepEqual(o.errs, [`vpnns: \`vpnns ${argv[0]}\` has no --dry-run and would act for real; leave --dry-run out to run it.`]);
    assert.deepEqual(o.outs, []);
  }
});

test('app, kilo and run pass --dry-run to the command (which honours it) instead of refusing it', async () => {
  for (const argv of [['app', 'start', 'web', '--dry-run', '--config', '/nonexistent/vpnns.yaml'], ['app', 'install', 'code-server', '--dry-run', '--config', '/nonexistent/vpnns.yaml'], ['run', 'prepare', 'socks', '--namespace', 'vpnnsut-nope', '--dry-run']]) {
    const o = io();
    await main(argv, o);
    assert.ok(!o.errs.some((l) => l.includes('has no --dry-run')), `${argv.join(' ')}: ${o.errs.join('\n')}`);
  }
  const o = io();
  assert.equal(await main(['run', 'vpn', '--namespace', 'vpnnsut-nope', '--dry-run'], o), 2);
  assert.match(o.errs.join('\n'), /`vpnns run vpn` has no --dry-run \(it is the VPN client itself\)/);
  const p = io();
  assert.equal(await main(['app', 'password', 'web', '--dry-run'], p), 2);
  assert.match(p.errs.join('\n'), /`vpnns app password` has no --dry-run/);
});

// `vpnns kilo --dry-run` is vpnns's own dry run now (it prints Kilo's command line); Kilo's own
// --dry-run, if any, goes after `--`: `vpnns kilo -- --dry-run`.
test('`vpnns kilo --dry-run` is not refused by main (kilo parses its own arguments)', async () => {
  const o = io();
  await main(['kilo', '--dry-run'], o);
  assert.ok(!o.errs.some((l) => l.includes('has no --dry-run')), o.errs.join('\n'));
});
