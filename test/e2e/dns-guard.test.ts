// The host replacing its resolv.conf (NetworkManager, systemd-resolved and dhclient rename a new
// file over it on every network change) detaches the bind mount that puts the namespace's
// resolv.conf in front of a running program: the kernel drops mounts whose mountpoint was renamed
// over in another mount namespace. The supervisor must notice and bind it again.
//
// This machine's /etc is never touched: the program runs in a mount namespace whose /etc is a copy
// with a resolved-style resolv.conf (a symlink to a stub file in another directory), and the test
// renames a new stub over that copy's target.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, BIN, type Harness } from './harness.js';

let h: Harness;
let cfg: string;
let dir: string;
let probe: ChildProcess | undefined;
let seen: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  h = await startHarness({ openvpn: false });
  cfg = h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    proxies: { socks: { enabled: false }, http: { enabled: false } },
    supervisor: { healthInterval: 1 },
  });
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);

  dir = mkdtempSync('/tmp/vpnns-dnsguard-');
  cpSync('/etc', join(dir, 'etc'), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(dir, 'resolve'));
  writeFileSync(join(dir, 'resolve', 'stub-resolv.conf'), `nameserver ${h.world.addr.ispResolver}\n`);
  rmSync(join(dir, 'etc', 'resolv.conf'), { force: true });
  symlinkSync(join(dir, 'resolve', 'stub-resolv.conf'), join(dir, 'etc', 'resolv.conf'));
  mkdirSync(join(dir, 'etc', 'netns'), { recursive: true });
  // The copy becomes /etc for the program; the live /etc/netns (vpnns's files) shows through it.
  // The paths are arguments of the script, never part of it.
  const script = 'mount --bind /etc/netns "$1/netns" && mount --rbind "$1" /etc && shift && exec "$@"';
  probe = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, '--', 'unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script, 'sh', join(dir, 'etc'),
    process.execPath, BIN, 'exec', '--config', cfg, '--', '/bin/sh', '-c', 'while :; do grep -m1 ^nameserver /etc/resolv.conf || echo none; sleep 0.1; done'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  probe.stdout!.setEncoding('utf8').on('data', (d: string) => seen.push(...d.split('\n').filter(Boolean)));
});

after(async () => {
  if (probe?.pid) {
    try {
      process.kill(-probe.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await h?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function lastLineBecomes(want: string, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (seen.at(-1) === want) return seen;
    await sleep(50);
  }
  assert.fail(`the program inside still reads "${seen.at(-1)}" after ${ms} ms, not "${want}"`);
}

test('a long-running program inside gets the namespace\'s resolv.conf back after the host replaces its own', async () => {
  const ours = `nameserver ${h.world.addr.vpnResolver}`;
  await lastLineBecomes(ours, 10_000);
  seen = [];
  // What NetworkManager does: write a new file, rename it over the old one.
  writeFileSync(join(dir, 'resolve', '.new'), `nameserver ${h.world.addr.ispResolver}\n# replaced\n`);
  renameSync(join(dir, 'resolve', '.new'), join(dir, 'resolve', 'stub-resolv.conf'));
  await lastLineBecomes(ours, 4000);
  const logs = await h.vpnns(['logs', '--config', cfg, 'dns', '--json']);
  const events = logs.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; files?: string[] });
  const rebound = events.find((e) => /bound them again/.test(e.msg));
  assert.ok(rebound, `the supervisor logged the repair:\n${logs.stdout}${logs.stderr}`);
  assert.deepEqual(rebound.files, ['resolv.conf']);
});

test('the host\'s own files are left alone: the stub still holds what the host wrote', async () => {
  const r = await h.world.inHost(['cat', join(dir, 'resolve', 'stub-resolv.conf')]);
  assert.equal(r.stdout, `nameserver ${h.world.addr.ispResolver}\n# replaced\n`);
});
