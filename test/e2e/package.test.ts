// The package ships whole: `npm pack` of this checkout, installed into a temporary prefix the way a
// user installs it (`npm install -g ./vpnns-*.tgz`), runs `vpnns --version`, `doctor` and `demo`
// from there, with no compile step and no install-scripts warning, and renders systemd units that
// point at the installed copy, not at this checkout.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './harness.js';
import { run, type RunResult } from '../../src/world/run.js';
import { leftovers } from '../../src/demo/session.js';
import { sweepStaleWorlds } from '../../src/world/world.js';

const canRun = process.getuid?.() === 0;
const TMP = mkdtempSync(join(tmpdir(), 'vpnns-package-'));
const PREFIX = join(TMP, 'prefix');
const INSTALLED_BIN = join(PREFIX, 'bin', 'vpnns');
const INSTALLED_ROOT = join(PREFIX, 'lib', 'node_modules', 'vpnns');

after(async () => {
  rmSync(TMP, { recursive: true, force: true });
  // A demo that died half-way leaves a world whose owner is dead: remove it.
  await sweepStaleWorlds();
});

const show = (r: RunResult): string => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
// Run from the temporary directory, so nothing resolves through the checkout by accident.
const installed = (args: string[], timeoutMs = 30_000) => run([INSTALLED_BIN, ...args], { cwd: TMP, timeoutMs });

test('package.json builds at pack time and runs nothing at install time', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string>; files: string[] };
  // `prepare` runs when a user installs from a directory or git, and npm warns about it; building in
  // `prepack` puts dist/ into the tarball instead.
  for (const s of ['prepare', 'preinstall', 'install', 'postinstall']) assert.equal(pkg.scripts[s], undefined, `scripts.${s}`);
  assert.match(pkg.scripts.prepack ?? '', /npm run build/);
  assert.ok(pkg.files.includes('dist/src'));
});

test('npm pack, npm install -g into a prefix: --version, doctor, demo and systemd render run from the installed copy', { skip: !canRun && 'needs root (the demo builds namespaces)' }, async () => {
  // `npm test` has just built dist/; --ignore-scripts skips prepack's second build of the same files
  // (the test above checks that prepack builds). What goes in is exactly what `npm publish` would ship.
  const packed = await run(['npm', 'pack', '--ignore-scripts', '--silent', '--pack-destination', TMP], { cwd: REPO, timeoutMs: 60_000 });
  assert.equal(packed.code, 0, show(packed));
  const tgz = readdirSync(TMP).find((f) => /^vpnns-.*\.tgz$/.test(f));
  assert.ok(tgz, `no tarball in ${TMP}: ${show(packed)}`);
  const tarball = join(TMP, tgz);

  const listing = (await run(['tar', '-tzf', tarball])).stdout.split('\n');
  for (const f of ['package/bin/vpnns', 'package/dist/src/cli/main.js', 'package/dist/src/world/world.js', 'package/dist/src/world/services.js', 'package/libexec/vpnns-openvpn-up']) {
    assert.ok(listing.includes(f), `${f} is not in the tarball`);
  }
  assert.deepEqual(listing.filter((f) => f.startsWith('package/dist/test/') || f.startsWith('package/test/')), [], 'tests are not shipped');

  // The only runtime dependency (yaml) comes from npm's cache when it is there, else from the registry.
  const install = (mode: string) =>
    run(['npm', 'install', '-g', mode, '--no-audit', '--no-fund', '--prefix', PREFIX, tarball], { cwd: TMP, timeoutMs: 90_000 });
  let inst = await install('--offline');
  if (inst.code !== 0) inst = await install('--prefer-offline');
  assert.equal(inst.code, 0, show(inst));
  assert.doesNotMatch(inst.stdout + inst.stderr, /install-scripts|install scripts/i, 'npm warned about install scripts');
  assert.ok(existsSync(join(INSTALLED_ROOT, 'dist', 'src', 'world', 'world.js')));

  const version = await installed(['--version']);
  assert.equal(version.code, 0, show(version));
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  assert.equal(version.stdout.trim(), pkg.version);

  // A fresh machine may lack optional things (code-server, Kilo): doctor says so and exits 0 or 1.
  const doctor = await installed(['doctor']);
  assert.ok(doctor.code === 0 || doctor.code === 1, show(doctor));
  assert.match(doctor.stdout, /^ok +ip +\//m, show(doctor));
  assert.match(doctor.stdout, /^ok +nft +\//m, show(doctor));

  const demo = await installed(['demo'], 180_000);
  assert.equal(demo.code, 0, show(demo));
  assert.match(demo.stdout, /every step worked, in [\d.]+ s; nothing is left behind\./);
  assert.match(demo.stdout, /^ +from inside: +198\.51\.100\.10 +\(the VPN server\)/m);
  const prefix = /namespaces (vd[0-9a-f]{4})-\*/.exec(demo.stdout)?.[1];
  assert.ok(prefix, show(demo));
  assert.deepEqual(leftovers(prefix, `${prefix}-v`), []);
  assert.equal(existsSync(`/tmp/vpnns-world-${prefix}`), false, 'the demo removed its run directory');

  // Units rendered by the installed copy run the installed copy.
  const wg = join(TMP, 'wg.conf');
  writeFileSync(
    wg,
    '[Interface]\nPrivateKey = aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=\nAddress = 10.66.0.2/32\n[Peer]\nPublicKey = aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=\nEndpoint = 198.51.100.10:51820\nAllowedIPs = 0.0.0.0/0\n',
    { mode: 0o600 },
  );
  const cfg = join(TMP, 'vpnns.yaml');
  writeFileSync(cfg, `namespace: vtpkg-v\nvpn:\n  type: wireguard\n  config: ${wg}\n`, { mode: 0o600 });
  const render = await installed(['systemd', 'render', '--config', cfg]);
  assert.equal(render.code, 0, show(render));
  const vpnnsExecs = render.stdout.split('\n').filter((l) => /^Exec\w*=/.test(l) && /\/bin\/vpnns /.test(l));
  assert.ok(vpnnsExecs.length >= 3, render.stdout);
  for (const l of vpnnsExecs) assert.ok(l.includes(` ${join(INSTALLED_ROOT, 'bin', 'vpnns')} `), `not the installed copy: ${l}`);
  assert.doesNotMatch(render.stdout, new RegExp(REPO.replace(/\/$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '/'), 'a unit points into the checkout');
});
