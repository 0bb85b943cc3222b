// The systemd units under a real systemd: a Debian container (systemd-nspawn) whose network is the
// test world's host namespace, so the world's WireGuard server is its internet. vpnns (the host's
// node and this repository, bind-mounted read-only) installs two namespaces side by side; the test
// checks traffic and DNS through the proxies, restarts after `systemctl kill`, that stopping a
// target removes every trace, and that enabled targets come back after a reboot.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor as pollFor } from '../../src/world/run.js';
import { stringify } from 'yaml';
import { createWorld, sweepStaleWorlds, type World } from '../../src/world/world.js';
import { Container, ensureRootfs, extractRootfs } from './systemd-rootfs.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const VPNNS = [process.execPath, join(REPO, 'bin', 'vpnns')];

interface Ns {
  name: string;
  subnet: string;
  nsAddr: string;
  /** The SOCKS proxy as the host reaches it (published on 127.0.0.1), with credentials if any. */
  socks: string;
  http: string;
  /** Unit name suffixes ('target' for the target). */
  parts: string[];
}

let skip: string | undefined;
let world: World;
let dir: string;
let root: string;
let box: Container | undefined;
let A: Ns;
let B: Ns;

const units = (ns: string, parts: string[]) => parts.map((p) => (p === 'target' ? `vpnns-${ns}.target` : `vpnns-${ns}-${p}.service`));
const PARTS = ['target', 'netns', 'vpn', 'socks', 'http', 'forward-socks'];
const all = (ns: Ns) => units(ns.name, ns.parts);

function c(): Container {
  return box ?? assert.fail('the container is not running');
}

async function boot(): Promise<void> {
  box = await Container.boot({
    root,
    netnsPath: `/run/netns/${world.ns.host}`,
    bindRo: [process.execPath, REPO],
    logFile: join(dir, 'console.log'),
  });
}

async function activeStates(list: string[]): Promise<string[]> {
  return (await c().exec(['systemctl', 'is-active', ...list])).stdout.trim().split('\n');
}

/** The world's poll, at a pace a container's systemctl can take. */
const waitFor = <T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> => pollFor(what, fn, ms, 250);

async function journal(unit: string): Promise<string> {
  return (await c().exec(['journalctl', '--no-pager', '-o', 'cat', '-u', unit])).stdout;
}

async function curlVia(proxy: string, url = `http://${world.names.echo}/`): Promise<string> {
  const r = await c().exec(['curl', '-sS', '--max-time', '5', '-x', proxy, url], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`curl -x ${proxy} ${url}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** Everything a namespace can leave in the container (and so in the world's host namespace). */
async function traces(ns: string): Promise<string[]> {
  const found: string[] = [];
  const netns = (await c().exec(['ip', 'netns', 'list'])).stdout;
  if (netns.split('\n').some((l) => l.split(' ')[0] === ns)) found.push(`namespace ${ns}`);
  const links = (await c().exec(['ip', '-o', 'link', 'show'])).stdout;
  for (const l of links.split('\n')) if (l.includes(`-${ns}`)) found.push(`link ${l.split(': ')[1]}`);
  const tables = (await c().exec(['nft', 'list', 'tables'])).stdout;
  if (tables.includes(`vpnns-${ns}`)) found.push(`nft table vpnns-${ns}`);
  for (const p of [`/etc/netns/${ns}`, `/run/vpnns/${ns}`, `/run/netns/${ns}`]) {
    if ((await c().exec(['test', '-e', p])).code === 0) found.push(p);
  }
  const ps = (await c().exec(['ps', '-eo', 'pid=,args='])).stdout;
  for (const l of ps.split('\n')) {
    if ((l.includes(`/run/vpnns/${ns}/`) || l.includes(`--namespace ${ns}`) || l.includes(`vt-${ns}`)) && !l.includes('ps -eo')) found.push(`process ${l.trim()}`);
  }
  const list = units(ns, [...PARTS, 'app-sleeper', 'forward-http']);
  for (const [u, s] of (await activeStates(list)).map((s, i) => [list[i], s])) {
    if (s !== 'inactive') found.push(`${u} is ${s}`);
  }
  return found;
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
  await sweepStaleWorlds();
  world = await createWorld({ openvpn: false });
  dir = `/tmp/vpnns-sdboot-${world.prefix}`;
  root = join(dir, 'root');
  await extractRootfs(rootfs.tarball, root);
  const p = world.prefix;
  A = { name: `${p}-a`, subnet: '10.231.0.0/30', nsAddr: '10.231.0.2', socks: 'socks5h://tester:pw-a@127.0.0.1:1080', http: 'http://10.231.0.2:1090', parts: [...PARTS, 'app-sleeper'] };
  B = { name: `${p}-b`, subnet: '10.232.0.0/30', nsAddr: '10.232.0.2', socks: 'socks5h://127.0.0.1:1081', http: 'http://127.0.0.1:1091', parts: [...PARTS, 'forward-http'] };
  const etc = join(root, 'etc', 'vpnns');
  mkdirSync(etc, { recursive: true });
  // The container's own lookups go to the world's ISP resolver, the namespaces' must not.
  writeFileSync(join(root, 'etc', 'resolv.conf'), `nameserver ${world.addr.ispResolver}\n`);
  // The probe URL by address: vpnns's own host-side probes must not put names in the resolvers' logs.
  const common = { logDir: '/var/log/vpnns', check: { echoUrl: [`http://${world.addr.echo}/`] } };
  const apps = { sleeper: { command: ['/usr/bin/sleep', 'infinity'], user: 'daemon', autostart: true } };
  for (const [ns, client, proxies, extra] of [
    [A, 0, { socks: { port: 1080, publish: true, username: 'tester', password: 'pw-a' }, http: { port: 1090 } }, { apps }],
    [B, 1, { socks: { port: 1081, publish: true }, http: { port: 1091, publish: true } }, {}],
  ] as const) {
    await world.wireguard!.writeClientConfig(join(etc, `wg-${ns.name}.conf`), { client });
    const cfg = {
      namespace: ns.name,
      network: { subnet: ns.subnet },
      vpn: { type: 'wireguard', config: `/etc/vpnns/wg-${ns.name}.conf`, connectTimeout: 10 },
      proxies,
      ...extra,
      ...common,
    };
    writeFileSync(join(etc, `src-${ns.name}.yaml`), stringify(cfg), { mode: 0o600 });
  }
  await boot();
}, { timeout: 15 * 60_000 });

after(async () => {
  await box?.stop(30_000).catch(() => {});
  await world?.destroy();
  if (dir && process.env.KEEP_WORLD !== '1') rmSync(dir, { recursive: true, force: true });
});

test('install --enable --now: both namespaces come up, every unit active', { timeout: 180_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  for (const ns of [A, B]) {
    const r = await c().exec([...VPNNS, 'systemd', 'install', '--config', `/etc/vpnns/src-${ns.name}.yaml`, '--enable', '--now'], { timeoutMs: 150_000 });
    assert.equal(r.code, 0, `install ${ns.name}: ${r.stdout}${r.stderr}\n${await journal(`vpnns-${ns.name}-*`)}`);
  }
  for (const ns of [A, B]) {
    const want = all(ns);
    // The runner may restart the proxies once onto the tunnel it just made: allow them to settle.
    await waitFor(`${ns.name} all active`, async () => ((await activeStates(want)).every((x) => x === 'active') ? true : undefined)).catch(() => {});
    assert.deepEqual(await activeStates(want), want.map(() => 'active'), `${ns.name}: ${await journal(`vpnns-${ns.name}-*`)}`);
    assert.equal((await c().exec(['systemctl', 'is-enabled', `vpnns-${ns.name}.target`])).stdout.trim(), 'enabled');
  }
});

test('traffic through both namespaces\' proxies leaves through the VPN; names resolve with the VPN\'s resolver', async (t) => {
  if (skipIfNeeded(t)) return;
  const egress = world.addr.vpnPublic;
  assert.equal(await curlVia(A.socks), egress, 'A: SOCKS with auth, published on the host');
  assert.equal(await curlVia(A.http), egress, 'A: HTTP proxy on the namespace address');
  assert.equal(await curlVia(B.socks), egress, 'B: SOCKS, published');
  assert.equal(await curlVia(B.http), egress, 'B: HTTP, published');
  await assert.rejects(curlVia('socks5h://127.0.0.1:1080'), 'A: SOCKS without the password is refused');
  const vpnQueries = (await world.dnsQueries('vpn')).filter((q) => q.name === world.names.echo);
  const ispQueries = (await world.dnsQueries('isp')).filter((q) => q.name === world.names.echo);
  assert.ok(vpnQueries.length > 0, 'the daemons in the units asked the VPN resolver');
  assert.deepEqual(ispQueries, [], 'the ISP resolver saw nothing');
  assert.match(await journal(`vpnns-${A.name}-vpn.service`), /"msg":"connected"/, 'the runner logs to the journal');
});

test('the app runs as its user inside the namespace, with the namespace resolv.conf and nsswitch.conf', async (t) => {
  if (skipIfNeeded(t)) return;
  const unit = `vpnns-${A.name}-app-sleeper.service`;
  const pid = (await c().exec(['systemctl', 'show', '-p', 'MainPID', '--value', unit])).stdout.trim();
  assert.ok(Number(pid) > 0, `${unit} has a main process`);
  const inode = async (path: string) => (await c().execOk(['stat', '-L', '-c', '%i', path])).stdout.trim();
  assert.equal(await inode(`/proc/${pid}/ns/net`), await inode(`/run/netns/${A.name}`), 'in the namespace');
  assert.equal((await c().execOk(['ps', '-o', 'user=', '-p', pid])).stdout.trim(), 'daemon');
  const resolv = (await c().execOk(['nsenter', '-t', pid, '-m', 'cat', '/etc/resolv.conf'])).stdout;
  assert.match(resolv, new RegExp(`^nameserver ${world.addr.vpnResolver.replaceAll('.', '\\.')}$`, 'm'), resolv);
  assert.match((await c().execOk(['nsenter', '-t', pid, '-m', 'cat', '/etc/nsswitch.conf'])).stdout, /^hosts: files dns$/m);
});

test('systemctl kill of the VPN unit: systemd restarts it, and the proxies follow the new tunnel', { timeout: 120_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  const vpn = `vpnns-${A.name}-vpn.service`;
  const show = async () => {
    const out = (await c().exec(['systemctl', 'show', '-p', 'NRestarts,MainPID,ActiveState', vpn])).stdout;
    return Object.fromEntries(out.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  };
  for (const how of [['--signal=SIGTERM'], ['--kill-who=main', '--signal=SIGKILL']]) {
    const before = await show();
    const k = await c().exec(['systemctl', 'kill', ...how, vpn]);
    assert.equal(k.code, 0, k.stderr);
    await waitFor(`${vpn} to be restarted after kill ${how.join(' ')}`, async () => {
      const s = await show();
      return Number(s.NRestarts) > Number(before.NRestarts) && s.ActiveState === 'active' && s.MainPID !== before.MainPID ? s : undefined;
    });
    // Dante pinned the old tunnel: the runner restarts it; traffic flows again.
    assert.equal(await waitFor('SOCKS through the new tunnel', () => curlVia(A.socks), 30_000), world.addr.vpnPublic);
    // Both proxies follow the tunnel and are restarted together (try-restart --no-block): the HTTP
    // one may still be starting when SOCKS already answers.
    assert.equal(await waitFor('HTTP through the new tunnel', () => curlVia(A.http), 30_000), world.addr.vpnPublic);
  }
  assert.equal(await curlVia(B.socks), world.addr.vpnPublic, 'the other namespace was not touched');
});

test('the client dies under a running runner: it reconnects in place and restarts the proxies onto the new tunnel', { timeout: 120_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  const prop = async (unit: string, p: string) => (await c().exec(['systemctl', 'show', '-p', p, '--value', unit])).stdout.trim();
  const vpn = `vpnns-${A.name}-vpn.service`;
  const socks = `vpnns-${A.name}-socks.service`;
  const [restarts, socksSince] = [await prop(vpn, 'NRestarts'), await prop(socks, 'ActiveEnterTimestampMonotonic')];
  const pids = (await c().exec(['pgrep', '-f', `wireguard-go.* vt-${A.name}$`])).stdout.trim();
  assert.ok(pids, 'wireguard-go is running');
  await c().execOk(['kill', '-KILL', ...pids.split('\n')]);
  await waitFor('Dante to be restarted onto the new tunnel', async () =>
    (await prop(socks, 'ActiveState')) === 'active' && (await prop(socks, 'ActiveEnterTimestampMonotonic')) !== socksSince ? true : undefined,
  );
  assert.equal(await waitFor('SOCKS through the new tunnel', () => curlVia(A.socks), 30_000), world.addr.vpnPublic);
  assert.equal(await prop(vpn, 'NRestarts'), restarts, 'the runner itself was not restarted');
  assert.match(await journal(vpn), /tunnel recreated: restarting/);
});

test('systemctl stop of one target removes every trace of it; the other keeps working', { timeout: 120_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  const r = await c().exec(['systemctl', 'stop', `vpnns-${A.name}.target`], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stderr);
  // The target's stop job ends before its parts have stopped (`vpnns down` takes a few seconds).
  await waitFor(`every trace of ${A.name} to go`, async () => ((await traces(A.name)).length ? undefined : true)).catch(async (e) => {
    throw new Error(`${(e as Error).message}: ${(await traces(A.name)).join(', ')}`);
  });
  assert.equal(await curlVia(B.socks), world.addr.vpnPublic);
  assert.deepEqual(await activeStates(all(B)), all(B).map(() => 'active'));
});

test('enabled targets start at boot; a clean shutdown runs `vpnns down`', { timeout: 180_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  await c().stop();
  box = undefined;
  // Shutdown stopped B's units: its veth is gone from the world's host namespace.
  const links = (await world.inHost(['ip', '-o', 'link', 'show'])).stdout;
  assert.ok(!links.includes(`-${B.name}`), `B's veth survived the shutdown:\n${links}`);
  await boot();
  for (const ns of [A, B]) {
    await waitFor(`${ns.name} to come up at boot`, async () => ((await activeStates(all(ns))).every((s) => s === 'active') ? true : undefined), 60_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await journal(`vpnns-${ns.name}-*`)}`);
    });
  }
  // Both namespaces connect at the same moment at boot; the first seconds can fail (see the report).
  const t0 = Date.now();
  assert.equal(await waitFor('SOCKS through A after boot', () => curlVia(A.socks), 30_000), world.addr.vpnPublic);
  assert.equal(await waitFor('HTTP through B after boot', () => curlVia(B.http), 30_000), world.addr.vpnPublic);
  process.stderr.write(`# traffic flowed ${Date.now() - t0} ms after both targets were active\n`);
});

test('uninstall stops and removes both namespaces\' units, config copies and every trace', { timeout: 120_000 }, async (t) => {
  if (skipIfNeeded(t)) return;
  for (const ns of [A, B]) {
    const r = await c().exec([...VPNNS, 'systemd', 'uninstall', '--namespace', ns.name], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.deepEqual(await traces(ns.name), []);
  }
  const left = (await c().exec(['sh', '-c', 'ls /etc/systemd/system /etc/systemd/system/multi-user.target.wants /etc/vpnns'])).stdout;
  assert.ok(!/vpnns-/.test(left), left);
  assert.ok(!new RegExp(`^${A.name}\\.yaml$`, 'm').test(left) && !new RegExp(`^${B.name}\\.yaml$`, 'm').test(left), left);
});
