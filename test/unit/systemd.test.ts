// systemd units: golden files for two namespaces side by side, `systemd-analyze verify` on every
// rendered unit, quoting, and install/uninstall into scratch directories (no systemd needed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { namesFor, type Names } from '../../src/core/names.js';
import { serviceSpecs, type ServiceSpec } from '../../src/core/services.js';
import { System } from '../../src/sys/system.js';
import { configSnapshot, install, planInstall, uninstall, unitOwner } from '../../src/systemd/install.js';
import { envFile, execLine, execWord } from '../../src/systemd/syntax.js';
import { defaultRuntime, renderUnits, tunnelDependents, unitNames, type RenderedFile, type UnitRuntime } from '../../src/systemd/units.js';
import { assertGolden } from './golden.js';
import '../../src/services/index.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

const CONFIG_A = `
namespace: work
network: { subnet: 10.231.0.0/30 }
vpn: { type: wireguard, config: /etc/vpnns/work-wg.conf }
proxies:
  socks: { port: 1080, publish: true }
  http: { port: 1090 }
publish: [8080]
apps:
  sleeper: { command: [/usr/bin/sleep, infinity], user: alice, autostart: true, env: { GREETING: hello } }
  later: { command: [/usr/bin/sleep, "1000"], user: root, autostart: false, requireVpn: false }
`;

const CONFIG_B = `
namespace: play
network: { subnet: 10.232.0.0/30 }
vpn: { type: wireguard, config: /etc/vpnns/play-wg.conf }
proxies:
  socks: { port: 1081, username: alice, password: "s3cret" }
  http: { port: 1091, publish: true }
`;

// Paths as a checkout in /opt/vpnns would have them: where this checkout lives (e.g. under /tmp,
// which drops PrivateTmp=) must not change the golden files.
const specsFor = (cfg: Config, names: Names): ServiceSpec[] =>
  serviceSpecs(cfg, names).map((s) => ({ ...s, process: { ...s.process, argv: s.process.argv.map((a) => stable(a)) } }));

function render(text: string, runtime: UnitRuntime): { cfg: Config; names: Names; units: RenderedFile[] } {
  const cfg = parseConfig(text);
  const names = namesFor(cfg);
  return { cfg, names, units: renderUnits({ cfg, names, specs: specsFor(cfg, names), configPath: `/etc/vpnns/${cfg.namespace}.yaml`, runtime }) };
}

/** Golden files must not depend on where the repository or node live. */
const GOLDEN_RUNTIME: UnitRuntime = { node: '/usr/bin/node', vpnns: '/opt/vpnns/bin/vpnns' };
const stable = (text: string) => text.replaceAll(process.execPath, '/usr/bin/node').replaceAll(REPO, '/opt/vpnns');

describe('systemd units', () => {
  for (const [label, text] of [['work', CONFIG_A], ['play', CONFIG_B]] as const) {
    test(`golden: namespace ${label}`, () => {
      const { units } = render(text, GOLDEN_RUNTIME);
      assertGolden(`systemd/${label}/UNITS`, units.map((u) => u.name).join('\n') + '\n');
      for (const u of units) assertGolden(`systemd/${label}/${u.name}`, stable(u.text));
    });
  }

  test('two namespaces side by side: no unit name in common, each unit names only its own siblings', () => {
    const a = render(CONFIG_A, GOLDEN_RUNTIME).units.map((u) => ({ ...u, text: stable(u.text) }));
    const b = render(CONFIG_B, GOLDEN_RUNTIME).units.map((u) => ({ ...u, text: stable(u.text) }));
    const namesA = new Set(a.map((u) => u.name));
    assert.deepEqual(b.filter((u) => namesA.has(u.name)), []);
    for (const u of a) assert.ok(!/vpnns-play|\/play\b/.test(u.text), `${u.name} mentions the other namespace`);
    for (const u of b) assert.ok(!/vpnns-work|\/work\b/.test(u.text), `${u.name} mentions the other namespace`);
    for (const u of [...a, ...b]) assert.equal(unitOwner(u.text), u.name.startsWith('vpnns-work') ? 'work' : 'play');
  });

  test('dependencies: everything binds the namespace; tunnel users bind the VPN; the target groups all', () => {
    const { units } = render(CONFIG_A, GOLDEN_RUNTIME);
    const byName = new Map(units.map((u) => [u.name, u.text]));
    const get = (n: string) => byName.get(n) ?? assert.fail(`no unit ${n}`);
    const target = get('vpnns-work.target');
    assert.match(target, /^Requires=vpnns-work-netns\.service$/m);
    assert.match(target, /^WantedBy=multi-user\.target$/m);
    for (const u of units.filter((u) => u.name !== 'vpnns-work.target')) {
      assert.match(u.text, /^PartOf=vpnns-work\.target$/m, u.name);
      if (u.name !== 'vpnns-work-netns.service') assert.match(u.text, /^BindsTo=vpnns-work-netns\.service/m, u.name);
      assert.match(u.text, /^StartLimitBurst=/m, u.name);
    }
    assert.match(get('vpnns-work-socks.service'), /^BindsTo=vpnns-work-netns\.service vpnns-work-vpn\.service$/m);
    assert.match(get('vpnns-work-forward-socks.service'), /^BindsTo=vpnns-work-netns\.service$/m);
    assert.match(get('vpnns-work-vpn.service'), /^Type=notify$/m);
    assert.match(get('vpnns-work-netns.service'), /^ExecStop=.* down --config \/etc\/vpnns\/work\.yaml$/m);
    assert.deepEqual(tunnelDependents('work', specsFor(parseConfig(CONFIG_A), namesFor(parseConfig(CONFIG_A)))), [
      'vpnns-work-socks.service',
      'vpnns-work-http.service',
    ]);
    const app = get('vpnns-work-app-sleeper.service');
    assert.match(app, /^BindsTo=vpnns-work-netns\.service$/m, 'a VPN restart must not stop an app');
    assert.match(app, /^Requires=vpnns-work-vpn\.service$/m);
    assert.match(app, /^After=vpnns-work-netns\.service vpnns-work-vpn\.service$/m);
    // An app without autostart is installed but not pulled in by the target; one as root is still an app.
    assert.doesNotMatch(target, /^Wants=.*app-later/m);
    assert.match(target, /^Wants=.*app-sleeper/m);
    const later = get('vpnns-work-app-later.service');
    assert.doesNotMatch(later, /ProtectSystem|Requires=/);
    assert.match(later, /^BindsTo=vpnns-work-netns\.service$/m);
  });

  test('units inside get the namespace and its resolver, never the host resolver; host-side ones do not', () => {
    const { units } = render(CONFIG_A, GOLDEN_RUNTIME);
    for (const u of units.filter((u) => /^vpnns-work-(socks|http|app-sleeper)\.service$/.test(u.name))) {
      assert.match(u.text, /^NetworkNamespacePath=\/run\/netns\/work$/m, u.name);
      assert.match(u.text, /^BindReadOnlyPaths=\/etc\/netns\/work\/resolv\.conf:\/etc\/resolv\.conf$/m, u.name);
      assert.match(u.text, /^BindReadOnlyPaths=\/etc\/netns\/work\/nsswitch\.conf:\/etc\/nsswitch\.conf$/m, u.name);
      assert.match(u.text, /^InaccessiblePaths=.*\/run\/systemd\/resolve/m, u.name);
      // The supervisor's wrappers are replaced by unit settings.
      assert.doesNotMatch(u.text, /ip netns exec|runuser|setpriv/, u.name);
    }
    const fwd = units.find((u) => u.name === 'vpnns-work-forward-socks.service')!;
    assert.doesNotMatch(fwd.text, /NetworkNamespacePath/);
    const app = units.find((u) => u.name === 'vpnns-work-app-sleeper.service')!;
    assert.match(app.text, /^User=alice$/m);
    // The environment goes in a 0600 file written by `run prepare`, not in the world-readable unit,
    // and is read by the app's user (ENV_SCRIPT) after systemd's User= drop: an EnvironmentFile=
    // would also reach the root ExecStartPre=+ (LD_PRELOAD, NODE_OPTIONS from apps.*.env).
    assert.match(app.text, /^ExecStart=\/usr\/bin\/perl -e ".*" -- \/run\/vpnns\/work\/units\/app-sleeper\.env0 -- \/usr\/bin\/sleep infinity$/m);
    assert.doesNotMatch(app.text, /^EnvironmentFile=/m);
    // The local channels of the app's user (alice does not exist on this machine; root does).
    const later = units.find((u) => u.name === 'vpnns-work-app-later.service')!;
    assert.match(later.text, /^InaccessiblePaths=.*-\/tmp\/tmux-0 .*-\/run\/user\/0\/bus .*-\/run\/dbus\/system_bus_socket/m);
    assert.doesNotMatch(later.text, /docker\.sock/, 'Docker stays reachable by default');
    assert.doesNotMatch(app.text, /GREETING/);
    assert.doesNotMatch(app.text, /NoNewPrivileges/, 'apps may run sudo in a terminal');
  });

  test("Dante with SOCKS auth keeps what its private mount namespace needs", () => {
    const { units } = render(CONFIG_B, GOLDEN_RUNTIME);
    const socks = units.find((u) => u.name === 'vpnns-play-socks.service')!;
    assert.match(socks.text, /^ExecStart=\/usr\/bin\/unshare --mount/m);
    assert.doesNotMatch(socks.text, /RestrictNamespaces|CapabilityBoundingSet/);
    assert.doesNotMatch(socks.text, /s3cret/, 'the password is not in the unit');
    const plain = render(CONFIG_A, GOLDEN_RUNTIME).units.find((u) => u.name === 'vpnns-work-socks.service')!;
    assert.match(plain.text, /^RestrictNamespaces=yes$/m);
  });

  test('systemd-analyze verify accepts every rendered unit of both namespaces', (t) => {
    if (spawnSync('systemd-analyze', ['--version']).status !== 0) return t.skip('systemd-analyze is not installed (scripts/bootstrap installs it)');
    const dir = mkdtempSync(join(tmpdir(), 'vpnns-units-'));
    try {
      // Real paths: verify checks that every ExecStart= program exists and is executable.
      const files: string[] = [];
      for (const text of [CONFIG_A, CONFIG_B]) {
        for (const u of render(text, defaultRuntime()).units) {
          writeFileSync(join(dir, u.name), u.text);
          files.push(join(dir, u.name));
        }
      }
      assert.ok(existsSync(defaultRuntime().vpnns));
      // The trailing ':' keeps the default search path, for multi-user.target and network-online.target.
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` }, encoding: 'utf8' });
      // verify exits 0 on unknown keys and bad values too; it only warns, so any output is a failure.
      assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'systemd-analyze verify printed warnings');
      assert.equal(r.status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('unit file syntax', () => {
  test('command words survive specifiers, variables, spaces and quotes', () => {
    assert.equal(execWord('/usr/bin/x'), '/usr/bin/x');
    assert.equal(execWord('100%'), '"100%%"');
    assert.equal(execWord('$HOME'), '"$$HOME"');
    assert.equal(execWord('a b'), '"a b"');
    assert.equal(execWord('say "hi"\\'), '"say \\"hi\\"\\\\"');
    assert.equal(execWord(';'), '";"');
    assert.equal(execWord(''), '""');
    assert.equal(execLine(['/bin/sh', '-c', 'echo $1', 'x'], '+'), '+/bin/sh -c "echo $$1" x');
    assert.throws(() => execLine(['sleep', '1']), /absolute path/);
  });

  test('environment files quote what systemd would otherwise unescape', () => {
    assert.equal(envFile({ A: 'plain', B: 'a "q" $x `y` \\z' }), 'A="plain"\nB="a \\"q\\" \\$x \\`y\\` \\\\z"\n');
    assert.throws(() => envFile({ 'BAD-NAME': 'x' }), /invalid environment variable name/);
  });
});

describe('config snapshot', () => {
  test('loads back to the same config', () => {
    const cfg = parseConfig(CONFIG_B, '/home/me/vpnns.yaml');
    const text = configSnapshot(cfg);
    assert.match(text, /^# Written by `vpnns systemd install` from \/home\/me\/vpnns\.yaml/);
    const { source: _s, ...back } = parseConfig(text);
    const { source: _t, ...orig } = cfg;
    assert.deepEqual(back, orig);
  });
});

describe('install and uninstall (scratch directories, no systemd)', () => {
  const root = mkdtempSync(join(tmpdir(), 'vpnns-install-'));
  const unitDir = join(root, 'units');
  const configDir = join(root, 'etc');
  after(() => rmSync(root, { recursive: true, force: true }));
  const quiet = () => {};
  const planFor = (text: string) => {
    const cfg = parseConfig(text);
    const names = namesFor(cfg);
    return { ns: cfg.namespace, plan: planInstall(cfg, names, specsFor(cfg, names), GOLDEN_RUNTIME, configDir) };
  };

  test('installs two namespaces side by side, enables by symlink, and is idempotent', async () => {
    for (const text of [CONFIG_A, CONFIG_B]) {
      const { ns, plan } = planFor(text);
      await install(new System(false), ns, plan, { unitDir, enable: true, now: false }, quiet);
      await install(new System(false), ns, plan, { unitDir, enable: true, now: false }, quiet);
    }
    const files = readdirSync(unitDir).sort();
    assert.ok(files.includes('vpnns-work.target') && files.includes('vpnns-play.target'));
    const wants = readdirSync(join(unitDir, 'multi-user.target.wants')).sort();
    assert.deepEqual(wants, ['vpnns-play.target', 'vpnns-work.target']);
    assert.equal(readlinkSync(join(unitDir, 'multi-user.target.wants', 'vpnns-work.target')), join(unitDir, 'vpnns-work.target'));
    const snap = join(configDir, 'play.yaml');
    assert.equal(statSync(snap).mode & 0o777, 0o600, 'the snapshot may hold the SOCKS password');
    assert.equal(parseConfig(readFileSync(snap, 'utf8')).proxies.socks.password, 's3cret');
  });

  test('refuses to overwrite a unit it did not write', async () => {
    const { ns, plan } = planFor(CONFIG_A);
    const foreign = join(unitDir, unitNames.vpn(ns));
    const mine = readFileSync(foreign, 'utf8');
    writeFileSync(foreign, '[Unit]\nDescription=someone else\n');
    try {
      await assert.rejects(install(new System(false), ns, plan, { unitDir, enable: false, now: false }, quiet), /was not written by vpnns for namespace work/);
    } finally {
      writeFileSync(foreign, mine);
    }
  });

  test('a service removed from the config loses its unit on reinstall', async () => {
    const { ns, plan } = planFor(CONFIG_A.replace('publish: true', 'publish: false'));
    await install(new System(false), ns, plan, { unitDir, enable: true, now: false }, quiet);
    assert.ok(!existsSync(join(unitDir, 'vpnns-work-forward-socks.service')));
    assert.ok(existsSync(join(unitDir, 'vpnns-work-socks.service')));
  });

  test('--now needs a running systemd managing the default directory', async () => {
    const { ns, plan } = planFor(CONFIG_A);
    await assert.rejects(install(new System(false), ns, plan, { unitDir, enable: false, now: true }, quiet), /--now needs systemd/);
  });

  test('uninstall removes one namespace completely and leaves the other alone', async () => {
    assert.equal(await uninstall(new System(false), 'work', { unitDir, configDir }, quiet), true);
    const left = readdirSync(unitDir).filter((f) => f !== 'multi-user.target.wants');
    assert.ok(left.length > 0 && left.every((f) => f.startsWith('vpnns-play')), left.join(' '));
    assert.deepEqual(readdirSync(join(unitDir, 'multi-user.target.wants')), ['vpnns-play.target']);
    assert.ok(!existsSync(join(configDir, 'work.yaml')));
    assert.ok(lstatSync(join(configDir, 'play.yaml')).isFile());
    assert.equal(await uninstall(new System(false), 'work', { unitDir, configDir }, quiet), false, 'a second uninstall finds nothing');
    await uninstall(new System(false), 'play', { unitDir, configDir }, quiet);
    assert.deepEqual(readdirSync(unitDir).filter((f) => f !== 'multi-user.target.wants'), []);
  });
});

test('PrivateTmp= is left out when the unit runs programs from /tmp (a checkout there would vanish)', async () => {
  const { privateTmp } = await import('../../src/systemd/units.js');
  assert.deepEqual(privateTmp(['/usr/bin/node', '/opt/vpnns/bin/vpnns']), [['PrivateTmp', true]]);
  assert.deepEqual(privateTmp(['/usr/bin/node', '/tmp/clone/bin/vpnns']), []);
  assert.deepEqual(privateTmp(['/var/tmp/x/node']), []);
});

test('a port published via the kernel has no unit: the host table (loaded by the -netns unit) carries it', () => {
  const { units } = render('namespace: pubk\nvpn: { type: none }\npublish: [{ port: 3000, via: kernel }, { port: 3001 }]\n', GOLDEN_RUNTIME);
  const names = units.map((u) => u.name);
  assert.ok(names.includes('vpnns-pubk-forward-3001.service'), names.join(' '));
  assert.ok(!names.some((n) => n.includes('forward-3000')), names.join(' '));
});
