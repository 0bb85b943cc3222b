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

before(async () => {
  h = await startHarness({ openvpn: false, wireguard: false });
  nsB = `${h.world.prefix}-b`;
  h.world.adoptNamespace(nsB);
  cfgA = h.config({ dns: [h.world.addr.ispResolver] });
  cfgB = h.config({ namespace: nsB, network: { subnet: '10.0.0.4/30' }, dns: [h.world.addr.ispResolver] }, join(h.world.dir, 'b.yaml'));
});
after(async () => {
  await h.vpnns(['down', '--config', cfgB]).catch(() => {});
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
