// The pure parts of how vpnns copes with AdGuard VPN CLI: its cgroup (where, how nft names it), the
// kill switch rule for it, the "not logged in" detection and the stale pid files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroup2Mount, clientCgroup } from '../../src/sys/client-cgroup.js';
import { renderClientRule, renderKillSwitch } from '../../src/firewall/killswitch.js';
import { adguardClientTraffic, removeStalePidFiles, saysNotLoggedIn } from '../../src/vpn/adguard.js';
import { renderDoctor } from '../../src/cli/doctor.js';
import { doctorChecks } from '../../src/checks/doctor.js';
import { adguardDoctorLines } from '../../src/checks/adguard-doctor.js';
import { fullArgv } from '../../src/sys/process.js';

const HYBRID = [
  '30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
  '32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
].join('\n');
const UNIFIED = '30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot';
const V1_ONLY = '32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,name=systemd';

test('client cgroup: hybrid hierarchy (cgroup2 at /sys/fs/cgroup/unified): nft path under /sys/fs/cgroup, level counted from the v2 root', () => {
  assert.deepEqual(cgroup2Mount(HYBRID), { point: '/sys/fs/cgroup/unified', root: '/' });
  assert.deepEqual(clientCgroup('vpn', HYBRID), { dir: '/sys/fs/cgroup/unified/vpnns/vpn-vpn', nftPath: 'unified/vpnns/vpn-vpn', level: 2 });
});

test('client cgroup: unified hierarchy', () => {
  assert.deepEqual(clientCgroup('work', UNIFIED), { dir: '/sys/fs/cgroup/vpnns/work-vpn', nftPath: 'vpnns/work-vpn', level: 2 });
});

test('client cgroup: none without cgroup v2 (the group match is then the only one)', () => {
  assert.equal(clientCgroup('vpn', V1_ONLY), undefined);
  assert.deepEqual(adguardClientTraffic(undefined), [{ kind: 'gid', gid: 51820 }]);
  assert.throws(() => clientCgroup('../x', UNIFIED));
});

test('kill switch: the client is admitted by its cgroup, with the group rule as fallback; a hostile path is refused', () => {
  const cg = clientCgroup('vpn', HYBRID)!;
  const traffic = adguardClientTraffic(cg);
  assert.equal(
    renderClientRule('vn-vpn', traffic[0]!),
    'oifname "vn-vpn" socket cgroupv2 level 2 "unified/vpnns/vpn-vpn" accept comment "VPN client (its cgroup, whatever its user or group)"',
  );
  const rules = renderKillSwitch({ table: 'vpnns', vethNs: 'vn-vpn', hostAddr: '10.0.0.1', tunnel: 'tun*', client: traffic });
  assert.match(rules, /socket cgroupv2 level 2 "unified\/vpnns\/vpn-vpn" accept/);
  assert.match(rules, /meta skuid 0 meta skgid 51820 accept/);
  assert.throws(() => renderClientRule('vn-vpn', { kind: 'cgroup', cgroup: { ...cg, nftPath: 'a" accept; #' } }));
  assert.throws(() => renderClientRule('vn-vpn', { kind: 'cgroup', cgroup: { ...cg, nftPath: '../../etc' } }));
});

test('process spec: the cgroup is joined first, before ip netns exec hides /sys/fs/cgroup', () => {
  const argv = fullArgv({ name: 'vpn', netns: 'vpn', gid: 51820, cgroup: '/sys/fs/cgroup/unified/vpnns/vpn-vpn', argv: ['adguardvpn-cli', 'connect'] });
  assert.deepEqual(argv.slice(0, 6), ['/bin/sh', '-c', 'echo $$ > "$1" && shift && exec "$@"', 'vpnns-cgroup', '/sys/fs/cgroup/unified/vpnns/vpn-vpn/cgroup.procs', '/usr/sbin/ip']);
  assert.deepEqual(argv.slice(-2), ['adguardvpn-cli', 'connect']);
});

test('not logged in: the texts of the record and exit code 11', () => {
  assert.equal(saysNotLoggedIn('\x1b[31mYou are not logged in. Please run `adguardvpn-cli login` first\x1b[0m'), true);
  assert.equal(saysNotLoggedIn('whatever', 11), true);
  assert.equal(saysNotLoggedIn('Failed to start the VPN service in the background. Failed to start process', 1), false);
});

test('stale pid files: those naming dead processes go, live ones and links stay', () => {
  const home = mkdtempSync(join(tmpdir(), 'agpid-'));
  try {
    const dir = join(home, '.local/share/adguardvpn-cli');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'vpn.pid'), '4000000\n');
    writeFileSync(join(dir, 'live.pid'), `${process.pid}\n`);
    writeFileSync(join(dir, 'garbage.pid'), 'x');
    writeFileSync(join(home, 'target'), '1');
    symlinkSync(join(home, 'target'), join(dir, 'link.pid'));
    assert.deepEqual(removeStalePidFiles(home, (pid) => pid === process.pid).sort(), ['garbage.pid', 'vpn.pid']);
    assert.equal(existsSync(join(dir, 'live.pid')), true);
    assert.equal(existsSync(join(home, 'target')), true);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('doctor: a missing AdGuard VPN CLI gets the official install line; the login line says what it knows', async () => {
  const cfg = { vpn: { type: 'adguard', binary: 'adguardvpn-cli', connectTimeout: 30 }, proxies: { socks: { enabled: false }, http: { enabled: false } }, apps: {} } as never;
  const checks = await doctorChecks(cfg, { find: async () => undefined });
  const { lines } = renderDoctor(checks);
  assert.ok(lines.includes('install adguardvpn-cli: curl -fsSL https://raw.githubusercontent.com/AdguardTeam/AdGuardVPNCLI/master/scripts/release/install.sh | sh -s -- -v'), lines.join('\n'));
  assert.deepEqual(adguardDoctorLines({ installed: true, version: '1.7.12', loggedIn: true, home: '/var/lib/vpnns/vpn/adguard', loginNote: 'logged in as a@b' }), [
    'AdGuard VPN CLI: version 1.7.12; login (home /var/lib/vpnns/vpn/adguard): logged in as a@b',
    '',
  ]);
});
