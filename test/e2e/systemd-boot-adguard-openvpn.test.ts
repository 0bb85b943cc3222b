// The systemd units for an AdGuard VPN CLI EMULATOR namespace and an OpenVPN namespace under a real
// systemd (the Debian container of systemd-boot.test.ts, whose network is the test world's host
// namespace). The AdGuard one logs in once, before install; then down, up and a reboot of the
// container must all find the session again (it is bound to the namespace veth's stable MAC), and
// stopping a target leaves nothing (no service, no cgroup, no namespace). The OpenVPN client is the
// host's binary, copied with the libraries the container lacks (both are Debian bookworm).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { createWorld, sweepStaleWorlds, type World } from '../../src/world/world.js';
import { run, waitFor as pollFor } from '../../src/world/run.js';
import { Container, ensureRootfs, extractRootfs } from './systemd-rootfs.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const VPNNS = [process.execPath, join(REPO, 'bin', 'vpnns')];
const EMULATOR = join(REPO, 'test', 'adguard-emulator', 'adguardvpn-cli');

let skip: string | undefined;
let world: World;
let dir: string;
let root: string;
let box: Container | undefined;
let G: { name: string; socks: string; egress: () => string };
let O: { name: string; socks: string; egress: () => string };

const c = (): Container => box ?? assert.fail('the container is not running');

async function boot(): Promise<void> {
  box = await Container.boot({ root, netnsPath: `/run/netns/${world.ns.host}`, bindRo: [process.execPath, REPO], logFile: join(dir, 'console.log') });
}

/** The world's poll, at a pace a container's systemctl can take. */
const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> => pollFor(what, fn, ms, 250);

const journal = async (pattern: string) => (await c().exec(['journalctl', '--no-pager', '-o', 'cat', '-u', pattern])).stdout;

/** The namespace's units and their states (`systemctl list-units`). */
async function unitStates(ns: string): Promise<Record<string, string>> {
  const out = (await c().exec(['systemctl', 'list-units', '--all', '--no-legend', '--plain', `vpnns-${ns}*`])).stdout;
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.trim().split(/\s+/))
      .map((f) => [f[0]!, f[2]!]),
  );
}
const allActive = async (ns: string) => {
  const s = await unitStates(ns);
  return Object.keys(s).length >= 3 && Object.values(s).every((x) => x === 'active') ? s : undefined;
};

async function curlVia(proxy: string): Promise<string> {
  const r = await c().exec(['curl', '-sS', '--max-time', '5', '-x', proxy, `http://${world.names.echo}/`], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`curl -x ${proxy}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

async function traces(ns: string): Promise<string[]> {
  const found: string[] = [];
  if ((await c().exec(['ip', 'netns', 'list'])).stdout.split('\n').some((l) => l.split(' ')[0] === ns)) found.push(`namespace ${ns}`);
  for (const l of (await c().exec(['ip', '-o', 'link', 'show'])).stdout.split('\n')) if (l.includes(`-${ns}`)) found.push(`link ${l.split(': ')[1]}`);
  for (const p of [`/run/vpnns/${ns}`, `/run/netns/${ns}`, `/sys/fs/cgroup/vpnns/${ns}-vpn`, `/sys/fs/cgroup/unified/vpnns/${ns}-vpn`]) {
    if ((await c().exec(['test', '-e', p])).code === 0) found.push(p);
  }
  for (const l of (await c().exec(['ps', '-eo', 'pid=,args='])).stdout.split('\n')) {
    if ((l.includes('adguardvpn-cli') || l.includes(`--namespace ${ns}`) || l.includes(`/run/vpnns/${ns}/`)) && !l.includes('ps -eo')) found.push(`process ${l.trim()}`);
  }
  for (const [u, s] of Object.entries(await unitStates(ns))) if (s !== 'inactive') found.push(`${u} is ${s}`);
  return found;
}

/** The host's openvpn and every library of it the container lacks, copied into the rootfs. */
async function copyOpenvpn(): Promise<void> {
  const ldd = (await run(['ldd', '/usr/sbin/openvpn'])).stdout;
  const files = ['/usr/sbin/openvpn', ...[...ldd.matchAll(/=>\s+(\/\S+)/g)].map((m) => m[1]!)];
  for (const f of files) {
    const to = join(root, f);
    if (existsSync(to)) continue;
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(f, to);
  }
}

function skipIfNeeded(t: TestContext): boolean {
  if (skip) t.skip(skip);
  return skip !== undefined;
}

before(async () => {
  const rootfs = await ensureRootfs((l) => process.stderr.write(`# ${l}\n`));
  if ('skip' in rootfs) {
    skip = rootfs.skip;
    return;
  }
  if (!existsSync('/usr/sbin/openvpn')) {
    skip = 'openvpn is not installed on this machine (its binary is copied into the container)';
    return;
  }
  await sweepStaleWorlds();
  world = await createWorld({});
  dir = `/tmp/vpnns-sdboot-ag-${world.prefix}`;
  root = join(dir, 'root');
  await extractRootfs(rootfs.tarball, root);
  await copyOpenvpn();
  const p = world.prefix;
  G = { name: `${p}-g`, socks: 'socks5h://127.0.0.1:1082', egress: () => world.addr.vpnPublic };
  O = { name: `${p}-o`, socks: 'socks5h://127.0.0.1:1083', egress: () => world.addr.ovpnPublic };
  const etc = join(root, 'etc', 'vpnns');
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(root, 'etc', 'resolv.conf'), `nameserver ${world.addr.ispResolver}\n`);
  const common = { logDir: '/var/log/vpnns', check: { echoUrl: [`http://${world.addr.echo}/`] } };
  const socks = (port: number) => ({ socks: { port, publish: true }, http: { enabled: false } });
  // The emulator's tunnel is the world's WireGuard server; its knobs come from a fixture file in
  // its data directory (the units' environment is clean).
  await world.wireguard!.writeClientConfig(join(etc, 'adguard-wg.conf'), { client: 0 });
  const agData = join(root, 'var/lib/vpnns', G.name, 'adguard', '.local/share/adguardvpn-cli');
  mkdirSync(agData, { recursive: true, mode: 0o700 });
  writeFileSync(join(agData, 'emulator-fixture.json'), JSON.stringify({ ADGUARD_EMULATOR_WG: '/etc/vpnns/adguard-wg.conf', ADGUARD_EMULATOR_NO_FORK: 'ignored' }), { mode: 0o600 });
  await world.openvpn!.writeClientConfig(join(etc, 'client.ovpn'));
  for (const [ns, subnet, vpn, proxies] of [
    [G, '10.235.0.0/30', { type: 'adguard', binary: EMULATOR, location: 'Frankfurt', connectTimeout: 20 }, socks(1082)],
    [O, '10.236.0.0/30', { type: 'openvpn', config: '/etc/vpnns/client.ovpn', connectTimeout: 20 }, socks(1083)],
  ] as const) {
    writeFileSync(join(etc, `src-${ns.name}.yaml`), stringify({ namespace: ns.name, network: { subnet }, vpn, proxies, ...common }), { mode: 0o600 });
  }
  await boot();
}, { timeout: 15 * 60_000 });

after(async () => {
  await box?.stop(30_000).catch(() => {});
  await world?.destroy();
  if (dir && process.env.KEEP_WORLD !== '1') rmSync(dir, { recursive: true, force: true });
});

test('emulator: AdGuard logs in once inside its namespace (brought up for it, then down again)', { timeout: 120_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  const r = await c().exec([...VPNNS, 'adguard', 'login', '--config', `/etc/vpnns/src-${G.name}.yaml`], { timeoutMs: 100_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Successfully Logged in/);
  assert.deepEqual(await traces(G.name), []);
});

test('emulator: install --enable --now brings up the AdGuard and the OpenVPN namespace; traffic leaves through each VPN', { timeout: 240_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  for (const ns of [G, O]) {
    const r = await c().exec([...VPNNS, 'systemd', 'install', '--config', `/etc/vpnns/src-${ns.name}.yaml`, '--enable', '--now'], { timeoutMs: 150_000 });
    assert.equal(r.code, 0, `install ${ns.name}: ${r.stdout}${r.stderr}\n${await journal(`vpnns-${ns.name}-*`)}`);
  }
  for (const ns of [G, O]) {
    await waitFor(`${ns.name} all active`, () => allActive(ns.name)).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await unitStates(ns.name))}\n${await journal(`vpnns-${ns.name}-*`)}`);
    });
    assert.equal(await waitFor(`SOCKS through ${ns.name}`, () => curlVia(ns.socks), 30_000), ns.egress());
  }
  assert.deepEqual((await world.dnsQueries('isp')).filter((q) => q.name === world.names.echo), [], 'the ISP resolver saw nothing');
  // The emulator forked its service through (emulated) sudo: root's group, not vpnns's client group;
  // only the cgroup rule of the kill switch can have let it out.
  const pid = (await c().execOk(['cat', `/var/lib/vpnns/${G.name}/adguard/.local/share/adguardvpn-cli/vpn.pid`])).stdout.trim();
  const st = (await c().execOk(['cat', `/proc/${pid}/status`])).stdout;
  assert.equal(/^Gid:\s+(\d+)/m.exec(st)?.[1], '0', st);
  assert.match((await c().execOk(['cat', `/proc/${pid}/cgroup`])).stdout, new RegExp(`/vpnns/${G.name}-vpn$`, 'm'));
  const rules = (await c().execOk(['nsenter', `--net=/run/netns/${G.name}`, 'nft', 'list', 'ruleset'])).stdout;
  assert.match(rules, /socket cgroupv2 level \d+ "[^"]*vpnns\/[^"]+-vpn" accept/, rules);
  process.stderr.write(`# in the container: ${/socket cgroupv2 level \d+ "[^"]*"/.exec(rules)?.[0]}\n`);
});

test('emulator: systemctl stop and start of the AdGuard target: nothing left in between, connected again without a new login', { timeout: 180_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  const r = await c().exec(['systemctl', 'stop', `vpnns-${G.name}.target`], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stderr);
  await waitFor(`every trace of ${G.name} to go`, async () => ((await traces(G.name)).length ? undefined : true)).catch(async (e) => {
    throw new Error(`${(e as Error).message}: ${(await traces(G.name)).join(', ')}`);
  });
  assert.equal(await curlVia(O.socks), O.egress(), 'the OpenVPN namespace was not touched');
  assert.equal((await c().exec(['systemctl', 'start', `vpnns-${G.name}.target`], { timeoutMs: 90_000 })).code, 0);
  await waitFor(`${G.name} all active again`, () => allActive(G.name));
  assert.equal(await waitFor('SOCKS through AdGuard again', () => curlVia(G.socks), 30_000), G.egress());
});

test('emulator: after a reboot both namespaces come back and connect; AdGuard needs no new login', { timeout: 240_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  await c().stop();
  box = undefined;
  await boot();
  for (const ns of [G, O]) {
    await waitFor(`${ns.name} to come up at boot`, () => allActive(ns.name), 90_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}: ${JSON.stringify(await unitStates(ns.name))}\n${await journal(`vpnns-${ns.name}-*`)}`);
    });
    assert.equal(await waitFor(`SOCKS through ${ns.name} after boot`, () => curlVia(ns.socks), 45_000), ns.egress());
  }
  assert.doesNotMatch(await journal(`vpnns-${G.name}-vpn.service`), /not logged in/);
});

test('emulator: uninstall removes both namespaces and every trace, the AdGuard service and cgroup included', { timeout: 120_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  for (const ns of [G, O]) {
    const r = await c().exec([...VPNNS, 'systemd', 'uninstall', '--namespace', ns.name], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.deepEqual(await traces(ns.name), []);
  }
});
