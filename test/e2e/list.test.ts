// `vpnns list`: two namespaces up side by side (one behind WireGuard with an app and published
// ports, one without a VPN), listed as root and as an unprivileged user (uid 65534) from the same
// world-readable files, with the VPN's egress and never the host's address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, leftovers, unprivilegedBin, type Harness } from './harness.js';
import type { ListedNamespace } from '../../src/report/list.js';

let h: Harness;
let cfgA: string;
let cfgB: string;
let nsB: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  h = await startHarness({ openvpn: false }, 'l');
  nsB = `${h.world.prefix}-m`;
  h.world.adoptNamespace(nsB);
  cfgA = h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    proxies: { socks: { enabled: false }, http: { enabled: false } },
    supervisor: { probeInterval: 1 },
    apps: { idle: { command: [process.execPath, '-e', 'setInterval(() => {}, 1e9)'], autostart: true, publish: [18090] } },
    publish: [{ port: 18091, via: 'kernel' }],
  });
  cfgB = h.config({ namespace: nsB, network: { subnet: '10.0.0.4/30' } }, join(h.world.dir, 'm.yaml'));
});

after(async () => {
  await h?.vpnns(['down', '--config', cfgB]).catch(() => {});
  await h?.cleanup();
});

async function listJson(asUser = false): Promise<ListedNamespace[]> {
  const r = asUser
    ? await h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, unprivilegedBin(), 'list', '--json'])
    : await h.vpnns(['list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  // Other runs' namespaces on this machine are listed too: only this world's are ours to check.
  return (JSON.parse(r.stdout) as { namespaces: ListedNamespace[] }).namespaces.filter((n) => n.namespace.startsWith(`${h.world.prefix}-`));
}

test('list: two namespaces with provider, state, the VPN\'s egress, apps and published ports; the same without root; never the host\'s address', async () => {
  for (const c of [cfgA, cfgB]) {
    const r = await h.vpnns(['up', '--config', c]);
    assert.equal(r.code, 0, r.stderr);
  }
  // The egress comes from the supervisor's probe (every second here).
  let mine: ListedNamespace[] = [];
  for (let i = 0; i < 100; i++) {
    mine = await listJson();
    if (mine.find((n) => n.namespace === h.ns)?.egress) break;
    await sleep(300);
  }
  const a = mine.find((n) => n.namespace === h.ns);
  const b = mine.find((n) => n.namespace === nsB);
  assert.ok(a && b, JSON.stringify(mine));
  assert.equal(a.state, 'running');
  assert.equal(a.vpn, 'wireguard');
  assert.equal(a.egress, h.world.addr.vpnPublic, 'the VPN\'s egress address');
  assert.deepEqual(a.apps, [{ name: 'idle', state: 'running' }]);
  assert.deepEqual(
    a.published.map((p) => [p.listen, p.via]),
    [['127.0.0.1:18091', 'kernel'], ['127.0.0.1:18090', 'forwarder']],
  );
  assert.equal(typeof a.supervisorPid, 'number');
  // No NetworkManager runs here: `up` left its runtime configuration alone.
  for (const ns of [h.ns, nsB]) assert.equal(existsSync(`/run/NetworkManager/conf.d/vpnns-${ns}.conf`), false);
  assert.deepEqual({ ...b, published: b.published.length }, { namespace: nsB, state: 'up', vpn: 'none', apps: [], published: 0 });

  // A port published at run time shows up too.
  const add = await h.vpnns(['publish', 'add', '18092', '--config', cfgA]);
  assert.equal(add.code, 0, add.stderr);
  const withAdded = (await listJson()).find((n) => n.namespace === h.ns)!;
  assert.deepEqual(withAdded.published.at(-1), { listen: '127.0.0.1:18092', target: '10.0.0.2:18092', via: 'forwarder', origin: '`vpnns publish add`' });

  // The same view for anyone: only the probe's timestamp may have moved on.
  const strip = (l: ListedNamespace[]) => l.map(({ egressProbedAt: _t, ...rest }) => rest);
  const asRoot = await listJson();
  const asNobody = await listJson(true);
  assert.deepEqual(strip(asNobody), strip(asRoot));

  const table = await h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, unprivilegedBin(), 'list']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^NAMESPACE +STATE +VPN +EGRESS +APPS +PUBLISHED$/m);
  const rowA = table.stdout.split('\n').find((l) => l.startsWith(`${h.ns} `));
  assert.match(rowA ?? '', new RegExp(`^${h.ns} +running +wireguard +${h.world.addr.vpnPublic.replace(/\./g, '\\.')} +idle \\(running\\) +127\\.0\\.0\\.1:18091->18091 \\(kernel\\), 127\\.0\\.0\\.1:18090->18090, 127\\.0\\.0\\.1:18092->18092$`));
  for (const out of [table.stdout, JSON.stringify(asNobody), JSON.stringify(asRoot)]) {
    assert.ok(!out.includes(h.world.addr.hostPublic), 'the host\'s own address is never listed');
  }
});

test('list after down: the namespaces are gone from it, and nothing of theirs is left', async () => {
  for (const c of [cfgA, cfgB]) assert.equal((await h.vpnns(['down', '--config', c])).code, 0);
  assert.deepEqual(await listJson(), []);
  assert.deepEqual(await listJson(true), []);
  assert.deepEqual(await leftovers(h), []);
});
