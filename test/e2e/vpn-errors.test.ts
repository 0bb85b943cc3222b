// What a user sees when the VPN part of the config is wrong: one sentence naming the problem and the
// fix, a bounded wait, a meaningful exit code, and nothing left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { startHarness, leftovers, RUN_DIR, type Harness } from './harness.js';

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

// ATTACK 3: a hostile .ovpn must load nothing and read nothing as root, and say why. The library
// below writes a marker file the moment anything loads it (dlopen by plugin/providers, or ld.so by
// LD_PRELOAD); the script writes another if anything runs it.
function buildMarkerLibrary(): { so: string; marker: string; script: string; scriptMarker: string } | undefined {
  const marker = join(h.world.dir, 'loaded.marker');
  const scriptMarker = join(h.world.dir, 'ran.marker');
  const src = join(h.world.dir, 'marker.c');
  const so = join(h.world.dir, 'marker.so');
  writeFileSync(src, `#include <fcntl.h>\n#include <unistd.h>\n__attribute__((constructor)) static void mark(void) { int fd = open("${marker}", O_WRONLY | O_CREAT, 0644); if (fd >= 0) close(fd); }\nint openvpn_plugin_min_version_required_v1(void) { return 3; }\n`);
  try {
    execFileSync('gcc', ['-shared', '-fPIC', '-o', so, src], { stdio: 'pipe' });
  } catch {
    return undefined;
  }
  const script = join(h.world.dir, 'hook.sh');
  writeFileSync(script, `#!/bin/sh\ntouch ${scriptMarker}\n`, { mode: 0o755 });
  // The control: the library does write its marker when loaded, so its absence below means something.
  execFileSync('/bin/true', { env: { ...process.env, LD_PRELOAD: so } });
  assert.ok(existsSync(marker), 'the marker library works');
  rmSync(marker);
  return { so, marker, script, scriptMarker };
}

test('ATTACK 3: a hostile .ovpn loads nothing and reads nothing: exit 2 with one sentence naming the line, OpenVPN never started', async (t) => {
  const lib = buildMarkerLibrary();
  if (!lib) return t.skip('gcc is not installed');
  const base = h.world.openvpn!.clientConfig();
  assert.match(base, /^client\n/, 'the world config starts with "client"');
  const cases: Array<[hostile: string, message: RegExp]> = [
    [`providers ${lib.so}`, /hostile\.ovpn:2: "providers" loads an OpenSSL provider library into OpenVPN, which runs as root; delete the line/],
    [`plugin ${lib.so}`, /hostile\.ovpn:2: "plugin" loads a library into OpenVPN, which runs as root; vpnns allows no plugins: delete the line/],
    [`setenv opt plugin ${lib.so}`, /hostile\.ovpn:2: "plugin" loads a library/],
    [`up ${lib.script}`, /hostile\.ovpn:2: "up" runs a program as root; vpnns sets up the tunnel's routes and DNS itself, so delete the line/],
    [`script-security 2\nup ${lib.script}`, /hostile\.ovpn:2: "script-security" only allows scripts/],
    ['auth-user-pass /etc/shadow', /hostile\.ovpn:2: "auth-user-pass \/etc\/shadow" would make OpenVPN, which runs as root, read that file and send it to the server; .*set vpn\.auth/],
    ['ca /etc/shadow', /hostile\.ovpn:2: "ca" names \/etc\/shadow, which does not hold a PEM certificate/],
    ['management 127.0.0.1 7505', /hostile\.ovpn:2: "management" opens a control socket/],
    ['log /etc/cron.d/vpnns-pwned', /hostile\.ovpn:2: "log" makes OpenVPN write a file as root/],
    // OpenVPN ends <ca> at "</ca>x" and would then load the plugin (verified with 2.6.14).
    [`<ca>\n</ca>x\nplugin ${lib.so}\n</ca>`, /hostile\.ovpn:3: put nothing after "<\/ca>" on its line/],
  ];
  const file = join(h.world.dir, 'hostile.ovpn');
  for (const [hostile, message] of cases) {
    writeFileSync(file, base.replace(/^client\n/, `client\n${hostile}\n`), { mode: 0o600 });
    await expectFailure(file, { type: 'openvpn' }, 2, message, 10_000);
    assert.ok(!existsSync(lib.marker), `${hostile}: nothing loaded the library`);
    assert.ok(!existsSync(lib.scriptMarker), `${hostile}: nothing ran the script`);
    assert.ok(!existsSync(join(h.world.dir, 'vpnns-log', 'openvpn.log')), `${hostile}: OpenVPN was never started`);
  }
  const shadowRun = await h.vpnns(['up', '--config', h.config({ vpn: { type: 'openvpn', config: file } })]);
  assert.doesNotMatch(shadowRun.stderr, /root:|\$y\$|\$6\$/, 'no byte of /etc/shadow in any message');
});

test('ATTACK 3: "setenv LD_PRELOAD" in a .ovpn does not reach vpnns\' own up script: OpenVPN connects, the library never loads', async (t) => {
  const lib = buildMarkerLibrary();
  if (!lib) return t.skip('gcc is not installed');
  const file = join(h.world.dir, 'preload.ovpn');
  const text = h.world.openvpn!.clientConfig().replace(/^client\n/, `client\nsetenv LD_PRELOAD ${lib.so}\nsetenv PATH ${h.world.dir}\n`);
  writeFileSync(file, text, { mode: 0o600 });
  const cfg = h.config({ vpn: { type: 'openvpn', config: file, connectTimeout: 15 } });
  const up = await h.vpnns(['up', '--config', cfg]);
  try {
    assert.equal(up.code, 0, up.stderr);
    assert.ok(!existsSync(lib.marker), 'the library was never loaded into the up script (it ran: OpenVPN connected)');
    assert.match(up.stdout + up.stderr, /preload\.ovpn:2: ignoring "setenv": setenv only reaches scripts/);
  } finally {
    const down = await h.vpnns(['down', '--config', cfg]);
    assert.equal(down.code, 0, down.stderr);
  }
  assert.deepEqual(await leftovers(h), []);
});

test('files a .ovpn names (ca, cert, key, relative to it) are read by vpnns and passed inline: OpenVPN connects and never sees a path', async () => {
  const dir = join(h.world.dir, 'profile');
  execFileSync('mkdir', ['-p', dir]);
  let text = h.world.openvpn!.clientConfig();
  for (const name of ['ca', 'cert', 'key']) {
    const m = new RegExp(`<${name}>\\n([\\s\\S]*?)\\n</${name}>\\n`).exec(text);
    assert.ok(m, `the world config has <${name}>`);
    writeFileSync(join(dir, `${name}.pem`), `${m![1]}\n`, { mode: 0o600 });
    text = text.replace(m![0], `${name} ${name}.pem\n`);
  }
  const file = join(dir, 'files.ovpn');
  writeFileSync(file, text, { mode: 0o600 });
  const cfg = h.config({ vpn: { type: 'openvpn', config: file, connectTimeout: 15 } });
  const up = await h.vpnns(['up', '--config', cfg]);
  try {
    assert.equal(up.code, 0, up.stderr);
    const rendered = readdirSync(join(RUN_DIR, h.ns), { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith('openvpn.conf'));
    assert.ok(rendered, 'the rendered config');
    const conf = join(RUN_DIR, h.ns, rendered!);
    assert.equal(statSync(conf).mode & 0o777, 0o600);
    const body = readFileSync(conf, 'utf8').replace(/^#.*\n/gm, ''); // the header comment names the source
    assert.doesNotMatch(body, /\.pem|profile|^cd /m, 'no path of the user\'s reaches OpenVPN');
    assert.match(body, /^<ca>\n-----BEGIN CERTIFICATE-----/m);
  } finally {
    const down = await h.vpnns(['down', '--config', cfg]);
    assert.equal(down.code, 0, down.stderr);
  }
  assert.deepEqual(await leftovers(h), []);
});
