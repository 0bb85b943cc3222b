// Apps: profile defaults from the config, the supervised spec of each app (argv, user, env, tunnel
// rules), the code-server password file, `vpnns kilo` argument splitting, `vpnns doctor`, and the
// wanted/ files `vpnns app start|stop` leave for the supervisor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { namesFor } from '../../src/core/names.js';
import { appSpec, appServices, appUrl, findProgramSync, lookupUser, profileOf, resolveAppUsers } from '../../src/services/apps.js';
import { codeServerArgv, codeServerPaths, ensurePassword, newPassword } from '../../src/services/profiles/code-server.js';
import { unsupportedReason, defaultPrefix } from '../../src/services/profiles/code-server-install.js';
import { serviceSpecs } from '../../src/core/services.js';
import { readWanted, writeWanted } from '../../src/supervisor/wanted.js';
import { System } from '../../src/sys/system.js';
import { parseKiloArgs } from '../../src/cli/kilo.js';
import { renderDoctor } from '../../src/cli/doctor.js';
import { doctorChecks } from '../../src/checks/doctor.js';
import { appStatusRows } from '../../src/report/apps.js';
import '../../src/services/index.js';

const cfgOf = (lines: string[]) => parseConfig(lines.join('\n'));

test('code-server defaults: port 8080, password, published on 127.0.0.1 at the same port', () => {
  const c = cfgOf(['apps:', '  code-server: {}']);
  assert.deepEqual(c.apps['code-server'], {
    env: {}, requireVpn: true, autostart: false, port: 8080, auth: 'password',
    publish: [{ port: 8080, host: '127.0.0.1:8080', target: 8080, via: 'forwarder' }],
  });
  assert.equal(appUrl('code-server', c.apps['code-server']!), 'http://127.0.0.1:8080/');
});

test('code-server under another name, another port, and an existing publication of it is not doubled', () => {
  const c = cfgOf(['apps:', '  editor: { profile: code-server, port: 8443, publish: [{ host: "127.0.0.1:9443", target: 8443 }] }', '  web: { command: [/bin/true], port: 3000 }']);
  assert.deepEqual(c.apps.editor!.publish, [{ host: '127.0.0.1:9443', target: 8443, via: 'forwarder' }]);
  assert.equal(appUrl('editor', c.apps.editor!), 'http://127.0.0.1:9443/');
  assert.equal(profileOf('editor', c.apps.editor!), 'code-server');
  assert.deepEqual(c.apps.web!.publish, [], 'a generic app publishes only what it says');
  assert.equal(profileOf('web', c.apps.web!), undefined);
});

test('kilo is interactive: no supervised service', () => {
  const c = cfgOf(['apps:', '  kilo: { command: [/usr/bin/true] }', '  agent: { profile: kilo }']);
  assert.deepEqual(c.apps.kilo, { command: ['/usr/bin/true'], env: {}, publish: [], requireVpn: true, autostart: false });
  assert.deepEqual(appServices(c, namesFor(c)), []);
});

test('the code-server spec: namespace address, own directories, password only in the environment', async () => {
  const c = cfgOf(['vpn: { type: command, start: [/bin/true], interface: tun0 }', 'apps:', '  code-server: { user: root, command: [/opt/cs/bin/code-server], env: { FOO: bar } }']);
  const names = namesFor(c);
  const spec = appSpec(c, names, 'code-server')!;
  const paths = codeServerPaths('/root');
  assert.equal(spec.name, 'app-code-server');
  assert.deepEqual(spec.process.argv, codeServerArgv({ program: ['/opt/cs/bin/code-server'], bindHost: '10.0.0.2', port: 8080, auth: 'password', paths }));
  assert.deepEqual(spec.process.argv.slice(0, 5), ['/opt/cs/bin/code-server', '--bind-addr', '10.0.0.2:8080', '--auth', 'password']);
  assert.ok(spec.process.argv.includes('/root/.local/share/vpnns/code-server/data'));
  assert.ok(spec.process.argv.includes('/root/.local/share/vpnns/code-server/extensions'));
  assert.ok(spec.process.argv.includes('--disable-telemetry') && spec.process.argv.includes('--disable-update-check'));
  assert.equal(spec.process.netns, names.ns);
  assert.equal(spec.process.user, undefined, 'root runs without runuser');
  assert.equal(spec.process.env?.VSCODE_IPC_HOOK_CLI, '', 'never hands over to an editor outside the namespace');
  assert.equal(spec.process.env?.FOO, 'bar');
  assert.equal(spec.needsTunnel, true);
  assert.equal(spec.followsTunnel, false, 'a VPN restart must not kill an app');
  assert.equal(spec.manual, true, 'no autostart: started on request');
  assert.ok(spec.prepare, 'the password is read before each start');
  assert.ok(!spec.process.argv.some((a) => /password/i.test(a) && a !== 'password'), 'no password on the command line');
});

test('generic apps: as the configured user, requireVpn false or vpn none means no waiting for a tunnel', () => {
  const c = cfgOf(['apps:', '  web: { command: [/usr/bin/python3, -m, http.server], user: nobody, autostart: true, requireVpn: false }', '  bare: {}']);
  const specs = serviceSpecs(c, namesFor(c)).filter((s) => s.name.startsWith('app-'));
  assert.deepEqual(specs.map((s) => s.name), ['app-web'], 'an app with nothing to run has no service');
  const web = specs[0]!;
  assert.deepEqual(web.process.argv, ['/usr/bin/python3', '-m', 'http.server']);
  assert.equal(web.process.user, 'nobody');
  assert.equal(web.needsTunnel, false);
  assert.equal(web.manual, false);
  const withVpnNone = cfgOf(['apps:', '  web: { command: [/bin/true] }']);
  assert.equal(appSpec(withVpnNone, namesFor(withVpnNone), 'web')!.needsTunnel, false, 'vpn none has no tunnel to wait for');
});

test('up fills in the invoking user and warns about root and auth: none', () => {
  const c = cfgOf(['apps:', '  code-server: { auth: none, command: [/bin/true] }', '  web: { command: [/bin/true], user: alice }']);
  const w1 = resolveAppUsers(structuredClone(c), { user: 'bob', source: 'SUDO_USER' });
  assert.equal(w1.length, 1);
  assert.match(w1[0]!, /apps\.code-server has auth: none/);
  const c2 = structuredClone(c);
  const w2 = resolveAppUsers(c2, { user: 'root', source: 'default' });
  assert.equal(c2.apps['code-server']!.user, 'root');
  assert.equal(c2.apps.web!.user, 'alice', 'a configured user stays');
  assert.match(w2.join('\n'), /apps\.code-server will run as root/);
});

test('the password: 32 url-safe characters, made once, 0600', async () => {
  assert.match(newPassword(), /^[A-Za-z0-9_-]{32}$/);
  const dir = await mkdtemp(join(tmpdir(), 'vpnns-apps-'));
  try {
    const file = join(dir, 'apps', 'code-server', 'password');
    const sys = new System(false);
    const a = await ensurePassword(sys, file);
    const b = await ensurePassword(sys, file);
    assert.equal(a, b);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.doesNotMatch(sys.actions.join('\n'), new RegExp(a), 'the password is never printed in the actions');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('vpnns kilo: our options first, everything else is Kilo\'s', () => {
  assert.deepEqual(parseKiloArgs(['-c', '/etc/x.yaml', 'run', '--format', 'json', 'hi']), { opts: { config: '/etc/x.yaml' }, positional: [], rest: ['run', '--format', 'json', 'hi'] });
  assert.deepEqual(parseKiloArgs(['--user=alice', '--', '--help']).rest, ['--help']);
  assert.deepEqual(parseKiloArgs(['--help']).opts, { help: true });
  assert.deepEqual(parseKiloArgs(['--version']).rest, ['--version']);
  assert.deepEqual(parseKiloArgs([]).rest, []);
  assert.throws(() => parseKiloArgs(['--config']), /--config needs a value/);
});

test('doctor: what the config needs, with the install line for each missing program', async () => {
  const c = cfgOf(['vpn: { type: openvpn, config: /etc/x.ovpn }', 'apps:', '  code-server: {}']);
  const have = new Set(['ip', 'nft', 'runuser', 'setpriv', 'curl', 'openvpn', 'tinyproxy']);
  const checks = await doctorChecks(c, { find: async (names) => names.find((n) => have.has(n)) && `/usr/bin/${names.find((n) => have.has(n))}` });
  const byTool = Object.fromEntries(checks.map((x) => [x.tool, x]));
  assert.equal(byTool.danted?.path, undefined);
  assert.equal(byTool.danted?.install, 'apt-get install dante-server');
  assert.equal(byTool['code-server']?.required, true, 'the config has a code-server app');
  assert.equal(byTool['kilocode|kilo']?.required, false, 'Kilo is optional without a kilo app');
  const { lines, ok } = renderDoctor(checks);
  assert.equal(ok, false);
  assert.ok(lines.some((l) => l === 'install danted: apt-get install dante-server'), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('install code-server: ')), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('optional kilocode|kilo: npm install -g @kilocode/cli@7.7.7')), lines.join('\n'));
  const wg = cfgOf(['vpn: { type: wireguard, config: /etc/wg.conf }']);
  const wgChecks = await doctorChecks(wg, { find: async () => '/usr/bin/x', kernelWireguard: false });
  assert.ok(wgChecks.some((x) => x.tool === 'wireguard-go'), 'no kernel module: wireguard-go is needed');
  assert.equal(renderDoctor(wgChecks).ok, true);
});

test('code-server install: Node 20 on x64 only, one prefix per version and Node', () => {
  assert.equal(unsupportedReason('20.19.0', 'x64'), undefined);
  assert.match(unsupportedReason('22.1.0', 'x64')!, /needs Node 20 and this is Node 22\.1\.0/);
  assert.match(unsupportedReason('20.1.0', 'arm64')!, /x64 only/);
  assert.equal(defaultPrefix('20.19.0', 'x64'), '/opt/vpnns/code-server-4.100.3-node20-x64');
});

test('wanted/: one file per service, last word wins', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vpnns-wanted-'));
  try {
    const n = { stateDir: dir };
    assert.deepEqual(await readWanted(n), {});
    await writeWanted(n, 'app-code-server', 'start');
    await writeWanted(n, 'app-web', 'start');
    await writeWanted(n, 'app-web', 'stop');
    assert.deepEqual(await readWanted(n), { 'app-code-server': 'start', 'app-web': 'stop' });
    await assert.rejects(writeWanted(n, '../x', 'start'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('app status rows: state from the supervisor, kilo shown as interactive', () => {
  const c = cfgOf(['apps:', '  code-server: { user: alice }', '  kilo: {}', '  web: { command: [/bin/true] }']);
  const rows = appStatusRows(c, { 'app-code-server': { state: 'running', since: 't', restarts: 1, pid: 42 } });
  assert.deepEqual(rows.map((r) => [r.name, r.state, r.pid, r.url]), [
    ['code-server', 'running', 42, 'http://127.0.0.1:8080/'],
    ['kilo', 'interactive', undefined, undefined],
    ['web', 'stopped', undefined, undefined],
  ]);
});

test('programs are found on PATH, in system dirs and in the user\'s own bin dirs', () => {
  assert.equal(findProgramSync(['definitely-not-a-program-xyz', 'sh'], undefined, ''), '/usr/bin/sh');
  assert.equal(findProgramSync(['/bin/sh']), '/bin/sh');
  assert.equal(findProgramSync(['/nonexistent/kilo']), undefined);
  assert.equal(lookupUser('root')?.home, '/root');
  assert.equal(lookupUser('0')?.name, 'root');
});

test('parseKiloArgs: a leading --dry-run is vpnns\'s; after Kilo\'s first argument or `--` it is Kilo\'s', () => {
  assert.deepEqual(parseKiloArgs(['--dry-run', 'run', 'hi']), { opts: { 'dry-run': true }, positional: [], rest: ['run', 'hi'] });
  assert.deepEqual(parseKiloArgs(['run', '--dry-run']).rest, ['run', '--dry-run']);
  assert.deepEqual(parseKiloArgs(['--', '--dry-run']), { opts: {}, positional: [], rest: ['--dry-run'] });
});
