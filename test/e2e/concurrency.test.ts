// Two `up`s at once cannot corrupt each other, and two namespaces live side by side: shared host
// settings (ip_forward) are restored only when the last one goes down.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startHarness, leftovers, type Harness } from './harness.js';

let h: Harness;
let cfgA: string;
let cfgB: string;
let nsB: string;
let nsC: string;
let nsD: string;

before(async () => {
  h = await startHarness({ openvpn: false, wireguard: false });
  nsB = `${h.world.prefix}-b`;
  h.world.adoptNamespace(nsB);
  nsC = `${h.world.prefix}-c`;
  nsD = `${h.world.prefix}-d`;
  h.world.adoptNamespace(nsC);
  h.world.adoptNamespace(nsD);
  cfgA = h.config({ dns: [h.world.addr.ispResolver] });
  cfgB = h.config({ namespace: nsB, network: { subnet: '10.0.0.4/30' }, dns: [h.world.addr.ispResolver] }, join(h.world.dir, 'b.yaml'));
});
after(async () => {
  await h.vpnns(['down', '--config', cfgB]).catch(() => {});
  for (const ns of [nsC, nsD]) await h.vpnns(['down', '--config', join(h.world.dir, `${ns}.yaml`)]).catch(() => {});
  await h?.cleanup();
});

test('two `up` of the same namespace at once: both succeed, the work is done once', async () => {
  const [a, b] = await Promise.all([h.vpnns(['up', '--config', cfgA]), h.vpnns(['up', '--config', cfgA])]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const made = [a, b].filter((r) => /^made network namespace$/m.test(r.stdout));
  assert.equal(made.length, 1, `${a.stdout}\n---\n${b.stdout}`);
  assert.ok([a, b].some((r) => /nothing changed/.test(r.stdout)));
  const r = await h.vpnns(['exec', '--config', cfgA, '--', 'curl', '-sS', '--max-time', '5', `http://${h.world.names.echo}/`]);
  assert.equal(r.stdout.trim(), h.world.addr.hostPublic);
});

test('a second namespace side by side; ip_forward is restored only after the last one is down', async () => {
  const up = await h.vpnns(['up', '--config', cfgB]);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /host 10\.0\.0\.5 <-> namespace 10\.0\.0\.6/);
  const r = await h.vpnns(['exec', '--config', cfgB, '--', 'curl', '-sS', '--max-time', '5', `http://${h.world.names.echo}/`]);
  assert.equal(r.stdout.trim(), h.world.addr.hostPublic);

  const downA = await h.vpnns(['down', '--config', cfgA]);
  assert.equal(downA.code, 0, downA.stderr);
  assert.equal((await h.world.inHost(['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1', 'B still needs forwarding');
  const still = await h.vpnns(['exec', '--config', cfgB, '--', 'curl', '-sS', '--max-time', '5', `http://${h.world.names.echo}/`]);
  assert.equal(still.stdout.trim(), h.world.addr.hostPublic);

  assert.equal((await h.vpnns(['down', '--config', cfgB])).code, 0);
  assert.equal((await h.world.inHost(['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '0');
  assert.deepEqual(await leftovers(h), []);
  assert.equal((await h.world.inHost(['ip', '-o', 'link', 'show'])).stdout.includes('vh-'), false);
});

test('two namespaces with the same subnet started at once: exactly one is up, the other says the subnet is taken', async () => {
  // The host lock: without it both checks run before either veth has its address, and both pass.
  const cfgs = [nsC, nsD].map((ns) => h.config({ namespace: ns, network: { subnet: '10.0.0.8/30' }, dns: [h.world.addr.ispResolver] }, join(h.world.dir, `${ns}.yaml`)));
  const results = await Promise.all(cfgs.map((c) => h.vpnns(['up', '--config', c])));
  const won = results.filter((r) => r.code === 0);
  const lost = results.filter((r) => r.code !== 0);
  assert.equal(won.length, 1, results.map((r) => `${r.code}: ${r.stdout}${r.stderr}`).join('\n---\n'));
  const loser = lost[0]!;
  const [winnerNs, loserNs] = results[0]!.code === 0 ? [nsC, nsD] : [nsD, nsC];
  assert.equal(loser.code, 2, loser.stderr);
  assert.match(loser.stderr, new RegExp(`network\\.subnet 10\\.0\\.0\\.8/30 overlaps the host's address 10\\.0\\.0\\.9/30 on vh-${winnerNs}; choose a free range`));
  assert.equal(loser.stderr.trim().split('\n').length, 1, loser.stderr);
  // leftovers() lists every vpnns link and table of the host: the winner's are up, so keep the loser's.
  assert.deepEqual((await leftovers({ ...h, ns: loserNs })).filter((l) => l.includes(loserNs)), [], 'the refused one made nothing');
  const r = await h.vpnns(['exec', '--config', cfgs[results[0]!.code === 0 ? 0 : 1]!, '--', 'curl', '-sS', '--max-time', '5', `http://${h.world.names.echo}/`]);
  assert.equal(r.stdout.trim(), h.world.addr.hostPublic, 'the one that is up works');
  for (const c of cfgs) assert.equal((await h.vpnns(['down', '--config', c])).code, 0);
  assert.deepEqual(await leftovers({ ...h, ns: winnerNs }), []);
});
