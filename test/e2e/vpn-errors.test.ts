// What a user sees when the VPN part of the config is wrong: one sentence naming the problem and the
// fix, a bounded wait, a meaningful exit code, and nothing left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { startHarness, leftovers, type Harness } from './harness.js';

let h: Harness;

before(async () => {
  h = await startHarness({});
});
after(async () => {
  await h?.cleanup();
});

function randomWgKey(): string {
  const { publicKey } = generateKeyPairSync('x25519');
  return publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
}

async function expectFailure(file: string, vpn: Record<string, unknown>, code: number, message: RegExp, maxMs: number) {
  const cfg = h.config({ vpn: { ...vpn, config: file } });
  const t0 = Date.now();
  const r = await h.vpnns(['up', '--config', cfg]);
  const ms = Date.now() - t0;
  assert.equal(r.code, code, `${r.stdout}\n${r.stderr}`);
  const errLines = r.stderr.trim().split('\n').filter((l) => l.startsWith('vpnns:'));
  assert.equal(errLines.length, 1, r.stderr);
  assert.match(errLines[0]!, message);
  assert.ok(ms < maxMs, `took ${ms} ms`);
  assert.deepEqual(await leftovers(h), []);
}

test('WireGuard with a wrong server key: clear error after the connect timeout, nothing left', async () => {
  const text = h.world.wireguard!.clientConfig().replace(/^PublicKey\s*=.*$/m, `PublicKey = ${randomWgKey()}`);
  const file = join(h.world.dir, 'wrong-key.conf');
  writeFileSync(file, text, { mode: 0o600 });
  await expectFailure(file, { type: 'wireguard', connectTimeout: 3 }, 1, /did not complete a handshake with .* within 3 s; check .*PublicKey/, 20_000);
});

test('WireGuard with an unreachable server: clear error, nothing left', async () => {
  const text = h.world.wireguard!.clientConfig().replace(/^Endpoint\s*=.*$/m, 'Endpoint = 198.51.100.99:51820');
  const file = join(h.world.dir, 'unreachable.conf');
  writeFileSync(file, text, { mode: 0o600 });
  await expectFailure(file, { type: 'wireguard', connectTimeout: 3 }, 1, /198\.51\.100\.99:51820 within 3 s/, 20_000);
});

test('WireGuard with an endpoint name that does not resolve: clear error before anything starts', async () => {
  const text = h.world.wireguard!.clientConfig().replace(/^Endpoint\s*=.*$/m, `Endpoint = nosuch.${h.world.names.zone}:51820`);
  const file = join(h.world.dir, 'nxdomain.conf');
  writeFileSync(file, text, { mode: 0o600 });
  await expectFailure(file, { type: 'wireguard', connectTimeout: 3, resolveWith: [h.world.addr.ispResolver] }, 1, /could not resolve .*nosuch/, 20_000);
});

test('a malformed wg-quick file names the line', async () => {
  const text = h.world.wireguard!.clientConfig().replace(/^Endpoint/m, 'Endpont');
  const file = join(h.world.dir, 'typo.conf');
  writeFileSync(file, text, { mode: 0o600 });
  const line = text.split('\n').findIndex((l) => l.startsWith('Endpont')) + 1;
  await expectFailure(file, { type: 'wireguard' }, 2, new RegExp(`typo\\.conf:${line}: .*"Endpont".*did you mean "Endpoint"`), 10_000);
});

test('a malformed .ovpn file names the line', async () => {
  const text = h.world.openvpn!.clientConfig().replace(/^remote .*$/m, 'remote');
  const file = join(h.world.dir, 'bad.ovpn');
  writeFileSync(file, text, { mode: 0o600 });
  const line = text.split('\n').findIndex((l) => l === 'remote') + 1;
  await expectFailure(file, { type: 'openvpn' }, 2, new RegExp(`bad\\.ovpn:${line}: `), 10_000);
});

test('OpenVPN with an unreachable server: clear error after the connect timeout, nothing left', async () => {
  const text = h.world.openvpn!.clientConfig().replace(/^remote .*$/m, `remote 198.51.100.99 1194 udp`);
  const file = join(h.world.dir, 'unreachable.ovpn');
  writeFileSync(file, text, { mode: 0o600 });
  await expectFailure(file, { type: 'openvpn', connectTimeout: 4 }, 1, /OpenVPN did not connect to 198\.51\.100\.99:1194\/udp within 4 s/, 25_000);
});

test('a missing wireguard-go or openvpn binary prints the apt line', async () => {
  for (const [tool, pkg, vpn] of [
    ['wireguard-go', 'wireguard-go', { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() }],
    ['openvpn', 'openvpn', { type: 'openvpn', config: await h.world.openvpn!.writeClientConfig() }],
  ] as const) {
    const cfg = h.config({ vpn });
    const r = await h.vpnnsWithout(tool, ['up', '--config', cfg]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`\`${tool}\` is not installed; install it with: apt-get install ${pkg}`));
    assert.deepEqual(await leftovers(h), []);
  }
});
