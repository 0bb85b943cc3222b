import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/errors.js';
import { didYouMean } from '../../src/config/did-you-mean.js';
import { defaultConfig, loadConfig, parseConfig } from '../../src/config/load.js';
import { configSchema, renderJsonSchema, toJsonSchema, type Schema } from '../../src/config/schema.js';
import { renderConfigReference } from '../../src/config/docs.js';

const DEFAULTS = {
  namespace: 'vpn-ns',
  network: { subnet: '10.0.0.0/30', ipv6: false },
  vpn: { type: 'none' },
  killSwitch: true,
  proxies: {
    socks: { enabled: true, port: 1080, publish: false },
    http: { enabled: true, port: 1090, publish: false },
  },
  publish: [],
  apps: {},
  sandbox: { tmux: false, screen: false, userBus: false, systemBus: false, nscd: false, x11: false, wayland: false, sshAgent: false, gpgAgent: false, keyring: false, audio: false, sshControl: false, editors: false, runtimeDir: false, docker: true },
  check: { echoUrl: ['https://api.ipify.org', 'https://ifconfig.me/ip'], echoUrl6: ['https://api6.ipify.org'], dnsWhoami: 'whoami.akamai.net', timeout: 5 },
  supervisor: { healthInterval: 10, probeInterval: 60, probeFailures: 3 },
  metrics: { enabled: false, listen: '127.0.0.1:9477' },
  logDir: '/var/log/vpnns',
};

/** Parses `lines` as vpnns.yaml and expects a ConfigError at `path` on `line`; returns it for further checks. */
function rejects(lines: string[], path: string, line: number | undefined, message?: string | RegExp): ConfigError {
  let caught: unknown;
  try {
    parseConfig(lines.join('\n'), 'vpnns.yaml');
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(lines)}, got ${String(caught)}`);
  assert.equal(caught.path, path, caught.message);
  assert.equal(caught.line, line, caught.message);
  assert.equal(caught.file, 'vpnns.yaml');
  assert.equal(caught.exitCode, 2);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else if (message) assert.match(caught.message, message);
  // One sentence: a single terminal period or question mark, no line breaks.
  assert.match(caught.message, /^[^\n]*[.?]$/);
  return caught;
}

const ok = (lines: string[]) => parseConfig(lines.join('\n'), '/etc/vpnns/config.yaml');

test('every default', () => {
  assert.deepEqual(defaultConfig(), DEFAULTS);
  assert.deepEqual(parseConfig(''), DEFAULTS);
  assert.deepEqual(parseConfig('# only a comment\n'), DEFAULTS);
  // Keys written without a value take their defaults.
  assert.deepEqual(parseConfig('network:\nproxies:\n  socks:\napps:\n'), DEFAULTS);
  const withSource = parseConfig('', 'vpnns.yaml');
  assert.equal(withSource.source, join(process.cwd(), 'vpnns.yaml'));
});

test('a full config round-trips with normalization', () => {
  const c = ok([
    'namespace: work-vpn',
    'network: { subnet: 10.200.0.0/24, ipv6: true, mtu: 1420 }',
    'dns: [1.1.1.1, "2606:4700:4700::1111"]',
    'killSwitch: false',
    'proxies:',
    '  socks: { enabled: true, port: 1081, publish: true, username: bob, password: s3cret }',
    '  http: { enabled: false, port: 1081 }',
    'publish: [8080, { port: 3000, host: "[::1]:3001" }, { target: 22, host: "127.0.0.1:2222" }]',
    'apps:',
    '  code-server:',
    '    user: alice',
    '    port: 8443',
    '    auth: password',
    '    autostart: true',
    '    env: { PORT: 8443, NAME: x }',
    '    publish: [8443]',
    '  kilo: {}',
    'check: { echoUrl: https://ip.example/ }',
    'supervisor: { healthInterval: 3600 }',
    'metrics: { enabled: true, listen: "[::1]:9100" }',
    'logDir: /tmp/logs',
  ]);
  assert.equal(c.namespace, 'work-vpn');
  assert.deepEqual(c.network, { subnet: '10.200.0.0/24', ipv6: true, mtu: 1420 });
  assert.deepEqual(c.dns, ['1.1.1.1', '2606:4700:4700::1111']);
  assert.deepEqual(c.proxies.socks, { enabled: true, port: 1081, publish: true, username: 'bob', password: 's3cret' });
  assert.deepEqual(c.publish, [
    { port: 8080, host: '127.0.0.1:8080', target: 8080, via: 'forwarder' },
    { port: 3000, host: '[::1]:3001', target: 3000, via: 'forwarder' },
    { target: 22, host: '127.0.0.1:2222', via: 'forwarder' },
  ]);
  assert.deepEqual(c.apps['code-server'], {
    user: 'alice', port: 8443, auth: 'password', autostart: true, requireVpn: true,
    env: { PORT: '8443', NAME: 'x' }, publish: [{ port: 8443, host: '127.0.0.1:8443', target: 8443, via: 'forwarder' }],
  });
  assert.deepEqual(c.apps.kilo, { env: {}, publish: [], requireVpn: true, autostart: false });
  assert.deepEqual(c.check.echoUrl, ['https://ip.example/']);
  assert.deepEqual(c.metrics, { enabled: true, listen: '[::1]:9100' });
  assert.equal(c.source, '/etc/vpnns/config.yaml');
});

test('publish: only target fills host from target', () => {
  assert.deepEqual(ok(['publish: [{ target: 9000 }]']).publish, [{ target: 9000, host: '127.0.0.1:9000', via: 'forwarder' }]);
});

test('publish via: forwarder by default, kernel on request (IPv4 only), nothing else', () => {
  assert.equal(ok(['publish: [{ port: 80, via: kernel }]']).publish[0]!.via, 'kernel');
  assert.equal(ok(['publish: [{ port: 80, host: "0.0.0.0:80", via: kernel }]']).publish[0]!.via, 'kernel');
  rejects(['publish:', '  - port: 80', '    host: "[::1]:80"', '    via: kernel'], 'publish[0].host', 3,
    /via: kernel publishes IPv4 addresses only \(the kernel cannot NAT \[::1\] into the namespace\), got \[::1\]:80; use 127\.0\.0\.1 or via: forwarder\.$/);
  rejects(['publish:', '  - port: 80', '    via: nat'], 'publish[0].via', 3, /expected one of "forwarder", "kernel"|expected one of/);
});

test('ConfigError message format', () => {
  const e = new ConfigError({ file: 'vpnns.yaml', line: 3, path: 'network.subnet', detail: 'expected a prefix between /24 and /30, got /31; use e.g. 10.0.0.0/30' });
  assert.equal(e.message, 'vpnns.yaml:3: network.subnet: expected a prefix between /24 and /30, got /31; use e.g. 10.0.0.0/30.');
  assert.equal(e.exitCode, 2);
  assert.equal(e.name, 'ConfigError');
  assert.ok(e instanceof Error);
  assert.equal(new ConfigError({ line: 4, path: 'dns', detail: 'x?' }).message, 'line 4: dns: x?');
  assert.equal(new ConfigError({ file: 'a.yaml', path: '', detail: 'no such file' }).message, 'a.yaml: no such file.');
  // Without a file name, errors from parseConfig still carry the line.
  assert.throws(() => parseConfig('namespace: "A"'), { message: 'line 1: namespace: expected 1 to 15 lowercase letters, digits or `-`, starting with a letter or digit, got "A".' });
});

test('subnet: prefix range, host bits, syntax', () => {
  rejects(['namespace: x', 'network:', '  subnet: 10.0.0.0/31'], 'network.subnet', 3,
    'vpnns.yaml:3: network.subnet: expected a prefix between /24 and /30, got /31; use e.g. 10.0.0.0/30.');
  rejects(['network:', '  subnet: 10.1.0.0/16'], 'network.subnet', 2, /got \/16; use e\.g\. 10\.1\.0\.0\/24\.$/);
  rejects(['network:', '  subnet: 10.0.0.5/30'], 'network.subnet', 2,
    'vpnns.yaml:2: network.subnet: expected a network address (host bits zero), got 10.0.0.5/30; use 10.0.0.4/30.');
  rejects(['network:', '  subnet: 10.0.0.0'], 'network.subnet', 2, /expected an IPv4 network like 10\.0\.0\.0\/30, got "10\.0\.0\.0"/);
  rejects(['network:', '  subnet: 300.0.0.0/30'], 'network.subnet', 2);
  rejects(['network:', '  mtu: 100'], 'network.mtu', 2, /expected an integer from 576 to 9000, got 100\.$/);
  rejects(['network:', '  ipv6: yes'], 'network.ipv6', 2, 'vpnns.yaml:2: network.ipv6: expected true or false, got "yes".');
});

test('namespace name', () => {
  rejects(['namespace: Vpn'], 'namespace', 1, /expected 1 to 15 lowercase letters/);
  rejects(['namespace: -vpn'], 'namespace', 1);
  rejects(['namespace: abcdefghijklmnop'], 'namespace', 1);
  assert.equal(ok(['namespace: abcdefghijklmno']).namespace, 'abcdefghijklmno');
  assert.equal(ok(['namespace: 0vpn']).namespace, '0vpn');
});

test('dns entries are IPs, at most 3', () => {
  rejects(['dns: [1.1.1.1, dns.example]'], 'dns[1]', 1, 'vpnns.yaml:1: dns[1]: expected an IPv4 or IPv6 address, got "dns.example".');
  rejects(['dns:', '  - 1.1.1.1', '  - 8.8.8.8', '  - 9.9.9.9', '  - 1.0.0.1'], 'dns', 2, 'vpnns.yaml:2: dns: expected at most 3 entries, got 4; remove 1.');
  rejects(['dns: []'], 'dns', 1, /expected at least 1 entry, got an empty list; remove the key for the default\.$/);
  rejects(['dns: 1.1.1.1'], 'dns', 1, /expected a list, got "1\.1\.1\.1"/);
});

test('ports are integers from 1 to 65535', () => {
  rejects(['proxies:', '  socks:', '    port: 70000'], 'proxies.socks.port', 3,
    'vpnns.yaml:3: proxies.socks.port: expected an integer from 1 to 65535, got 70000.');
  rejects(['proxies:', '  http:', '    port: "1090"'], 'proxies.http.port', 3, /got "1090"\.$/);
  rejects(['proxies:', '  http: { port: 10.5 }'], 'proxies.http.port', 2);
  rejects(['publish: [0]'], 'publish[0].port', 1, /expected an integer from 1 to 65535, got 0\.$/);
  rejects(['apps:', '  web:', '    publish:', '      - port: 80', '      - port: 65536'], 'apps.web.publish[1].port', 5);
  rejects(['apps:', '  web:', '    port: -1'], 'apps.web.port', 3);
  rejects(['proxies:', '  http:', '    port: 1080'], 'proxies.http', 2, /expected a port other than the SOCKS proxy's 1080/);
});

test('publish entries: host syntax, port or target required', () => {
  rejects(['publish:', '  - port: 80', '    host: localhost:80'], 'publish[0].host', 3,
    'vpnns.yaml:3: publish[0].host: expected ADDR:PORT like 127.0.0.1:8080 or [::1]:8080, got "localhost:80".');
  rejects(['publish:', '  - { port: 80, host: "::1:80" }'], 'publish[0].host', 2);
  rejects(['publish:', '  - port: 80', '  - host: 127.0.0.1:81'], 'publish[1]', 3, /expected `port` or `target` to be set/);
  rejects(['publish:', '  - [80]'], 'publish[0]', 2, /expected an integer from 1 to 65535 or a mapping, got a list\.$/);
});

test('socks username and password: both or neither', () => {
  rejects(['proxies:', '  socks:', '    username: bob'], 'proxies.socks.username', 3,
    'vpnns.yaml:3: proxies.socks.username: expected `username` and `password` together; add `password` or remove `username`.');
  rejects(['proxies:', '  socks:', '    enabled: true', '    password: pw'], 'proxies.socks.password', 4, /add `username` or remove `password`/);
});

test('metrics.listen must be loopback', () => {
  rejects(['metrics:', '  listen: 0.0.0.0:9477'], 'metrics.listen', 2,
    'vpnns.yaml:2: metrics.listen: expected a loopback address (127.0.0.0/8 or [::1]), got 0.0.0.0; use 127.0.0.1:9477.');
  rejects(['metrics:', '  listen: "::1:9477"'], 'metrics.listen', 2, /expected a loopback ADDR:PORT/);
  assert.equal(ok(['metrics: { listen: 127.0.0.53:1 }']).metrics.listen, '127.0.0.53:1');
});

test('check.echoUrl: a string or a list of http(s) URLs', () => {
  assert.deepEqual(ok(['check:', '  echoUrl: [http://a.example/, https://b.example/ip]']).check.echoUrl, ['http://a.example/', 'https://b.example/ip']);
  rejects(['check:', '  echoUrl: ftp://x.example/'], 'check.echoUrl', 2, /expected an http:\/\/ or https:\/\/ URL/);
  rejects(['check:', '  echoUrl:', '    - https://ok.example/', '    - not a url'], 'check.echoUrl[1]', 4);
  rejects(['check:', '  echoUrl: []'], 'check.echoUrl', 2);
});

test('supervisor, killSwitch, logDir, apps', () => {
  rejects(['supervisor:', '  healthInterval: 0'], 'supervisor.healthInterval', 2, /from 1 to 3600, got 0/);
  rejects(['killSwitch: 1'], 'killSwitch', 1, /expected true or false, got 1/);
  rejects(['logDir: logs'], 'logDir', 1, /expected an absolute path, got "logs"/);
  rejects(['apps:', '  "my app": {}'], 'apps.my app', 2, /expected a name of 1 to 32 letters/);
  rejects(['apps:', '  web:', '    command: []'], 'apps.web.command', 3);
  rejects(['apps:', '  web:', '    auth: basic'], 'apps.web.auth', 3, /expected one of password, none, got "basic"/);
  rejects(['apps:', '  web:', '    env:', '      DEBUG: true'], 'apps.web.env.DEBUG', 4, /got true; quote it \("true"\) if you mean the text\.$/);
  rejects(['apps:', '  web:', '    env:', '      1BAD: x'], 'apps.web.env.1BAD', 4);
  rejects(['apps:', '  web:', '    env:', '      EMPTY:'], 'apps.web.env.EMPTY', 4, /expected a string, got nothing\.$/);
  assert.deepEqual(ok(['apps:', '  web:']).apps, { web: { env: {}, publish: [], requireVpn: true, autostart: false } });
  rejects(['apps: [web]'], 'apps', 1, /expected a mapping, got a list/);
  rejects(['- namespace: x'], '', 1, 'vpnns.yaml:1: expected a mapping, got a list.');
});

test('unknown keys, with did-you-mean', () => {
  rejects(['namepsace: vpn'], 'namepsace', 1, 'vpnns.yaml:1: namepsace: unknown key; did you mean `namespace`?');
  rejects(['namespace: vpn', 'netwrok:', '  subnet: 10.0.0.0/30'], 'netwrok', 2, 'vpnns.yaml:2: netwrok: unknown key; did you mean `network`?');
  rejects(['vpn:', '  type: wireguard', '  confg: wg0.conf'], 'vpn.confg', 3, 'vpnns.yaml:3: vpn.confg: unknown key; did you mean `config`?');
  rejects(['killswitch: false'], 'killswitch', 1, /did you mean `killSwitch`\?$/);
  rejects(['apps:', '  web:', '    requireVPN: false'], 'apps.web.requireVPN', 3, /did you mean `requireVpn`\?$/);
  rejects(['subnet: 10.0.0.0/30'], 'subnet', 1, 'vpnns.yaml:1: subnet: unknown key here; it belongs under `network`.');
  rejects(['zzz: 1'], 'zzz', 1, /unknown key; allowed here: namespace, network, dns, vpn,/);
  rejects(['vpn:', '  type: openvpn', '  config: a.ovpn', '  implementation: auto'], 'vpn.implementation', 4,
    'vpnns.yaml:4: vpn.implementation: not used by type openvpn; it belongs to wireguard.');
  assert.equal(didYouMean('xyz', ['namespace']), undefined);
  assert.equal(didYouMean('dsn', ['dns', 'vpn']), 'dns');
});

test('YAML syntax errors carry their line', () => {
  rejects(['namespace: x', 'network:', '  subnet: [10.0.0.0/30', 'vpn: {}'], '', 4, /^vpnns\.yaml:4: invalid YAML: /);
  rejects(['namespace: x', 'network:', '  mtu: 1500', 'namespace: y'], '', 4, 'vpnns.yaml:4: invalid YAML: a key appears twice in the same mapping; remove one of them.');
  rejects(['a: b: c'], '', 1, /invalid YAML: nested mappings are not allowed in compact mappings; check the indentation and quoting here\.$/);
  rejects(['namespace: "x', ''], '', 1);
});

test('vpn none: the default, and nothing else allowed', () => {
  assert.deepEqual(ok(['vpn:', '  type: none']).vpn, { type: 'none' });
  rejects(['vpn:', '  type: none', '  config: wg0.conf'], 'vpn.config', 3, /not used by type none; it belongs to wireguard, openvpn\.$/);
  rejects(['vpn:', '  config: wg0.conf'], 'vpn.type', 2, 'vpnns.yaml:2: vpn.type: missing; add `type:` with one of none, wireguard, openvpn, adguard, command.');
  rejects(['vpn:', '  type: wg'], 'vpn.type', 2, 'vpnns.yaml:2: vpn.type: expected one of none, wireguard, openvpn, adguard, command, got "wg".');
  rejects(['vpn:', '  type: wireguad'], 'vpn.type', 2, /got "wireguad"; did you mean wireguard\?$/);
  rejects(['vpn: wireguard'], 'vpn', 1, /got "wireguard"; write `type: wireguard` on its own line under `vpn:`\.$/);
});

test('vpn wireguard', () => {
  const c = ok(['vpn:', '  type: wireguard', '  config: wg/wg0.conf', '  resolveWith: [9.9.9.9]']);
  assert.deepEqual(c.vpn, { type: 'wireguard', config: '/etc/vpnns/wg/wg0.conf', implementation: 'auto', connectTimeout: 30, resolveWith: ['9.9.9.9'] });
  assert.equal((ok(['vpn: { type: wireguard, config: /x.conf, implementation: userspace }']).vpn as { implementation: string }).implementation, 'userspace');
  rejects(['vpn:', '  type: wireguard'], 'vpn.config', 2, 'vpnns.yaml:2: vpn.config: missing; add `config:` (wg-quick file, relative to the config file).');
  rejects(['vpn:', '  type: wireguard', '  config:'], 'vpn.config', 3);
  rejects(['vpn:', '  type: wireguard', '  config: a.conf', '  implementation: go'], 'vpn.implementation', 4, /expected one of auto, kernel, userspace, got "go"/);
  rejects(['vpn:', '  type: wireguard', '  config: a.conf', '  connectTimeout: 601'], 'vpn.connectTimeout', 4, /from 1 to 600, got 601/);
  rejects(['vpn:', '  type: wireguard', '  config: a.conf', '  resolveWith: [ns.example]'], 'vpn.resolveWith[0]', 4);
});

test('vpn openvpn', () => {
  const c = ok(['vpn:', '  type: openvpn', '  config: client.ovpn', '  auth: ../secrets/auth.txt', '  connectTimeout: 5']);
  assert.deepEqual(c.vpn, { type: 'openvpn', config: '/etc/vpnns/client.ovpn', auth: '/etc/secrets/auth.txt', connectTimeout: 5 });
  rejects(['vpn:', '  type: openvpn', '  auth: a.txt'], 'vpn.config', 2, /missing; add `config:` \(\.ovpn file/);
  rejects(['vpn:', '  type: openvpn', '  config: [a.ovpn]'], 'vpn.config', 3, /expected a string, got a list/);
});

test('vpn adguard', () => {
  assert.deepEqual(ok(['vpn:', '  type: adguard']).vpn, { type: 'adguard', binary: 'adguardvpn-cli', connectTimeout: 30 });
  // A bare command name stays a name (looked up in PATH); a path is resolved.
  assert.equal((ok(['vpn: { type: adguard, binary: my-adguard, location: Frankfurt }']).vpn as { binary: string }).binary, 'my-adguard');
  assert.equal((ok(['vpn: { type: adguard, binary: ./bin/adguardvpn-cli }']).vpn as { binary: string }).binary, '/etc/vpnns/bin/adguardvpn-cli');
  assert.equal((ok(['vpn: { type: adguard, binary: /opt/ag/adguardvpn-cli }']).vpn as { binary: string }).binary, '/opt/ag/adguardvpn-cli');
  assert.equal((ok(['vpn: { type: adguard, location: 7 }']).vpn as { location: string }).location, '7');
  rejects(['vpn:', '  type: adguard', '  location: [a]'], 'vpn.location', 3, /expected a string, got a list\.$/);
});

test('vpn command', () => {
  const c = ok(['vpn:', '  type: command', '  start: [my-vpn, up]', '  stop: [my-vpn, down]', '  interface: tun7',
    '  endpoints: [198.51.100.7:51820/udp, "vpn.example.com:443/tcp", "[2001:db8::1]:1194/udp"]', '  dns: [10.8.0.1]']);
  assert.deepEqual(c.vpn, {
    type: 'command', start: ['my-vpn', 'up'], stop: ['my-vpn', 'down'], interface: 'tun7',
    endpoints: ['198.51.100.7:51820/udp', 'vpn.example.com:443/tcp', '[2001:db8::1]:1194/udp'], dns: ['10.8.0.1'], connectTimeout: 30,
  });
  rejects(['vpn:', '  type: command', '  interface: tun0'], 'vpn.start', 2, /missing; add `start:`/);
  rejects(['vpn:', '  type: command', '  start: []', '  interface: tun0'], 'vpn.start', 3, /expected at least 1 entry, got an empty list\.$/);
  rejects(['vpn:', '  type: command', '  start: [x]'], 'vpn.interface', 2, /missing; add `interface:`/);
  rejects(['vpn:', '  type: command', '  start: [x]', '  interface: a-very-long-name0'], 'vpn.interface', 4, /expected an interface name of 1 to 15/);
  rejects(['vpn:', '  type: command', '  start: [x]', '  interface: tun/0'], 'vpn.interface', 4);
  rejects(['vpn:', '  type: command', '  start: [x]', '  interface: tun0', '  endpoints: [198.51.100.7:51820]'], 'vpn.endpoints[0]', 5,
    /expected HOST:PORT\/udp or HOST:PORT\/tcp like 198\.51\.100\.7:51820\/udp or \[2001:db8::1\]:443\/tcp, got "198\.51\.100\.7:51820"\.$/);
  rejects(['vpn:', '  type: command', '  start: [x]', '  interface: tun0', '  dns: [x]'], 'vpn.dns[0]', 5);
  rejects(['vpn:', '  type: command', '  start: x', '  interface: tun0'], 'vpn.start', 3, /expected a list, got "x"/);
});

test('paths are resolved relative to the config file; loadConfig finds the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vpnns-config-'));
  try {
    await mkdir(join(dir, 'conf'));
    await writeFile(join(dir, 'conf', 'vpnns.yaml'), 'vpn:\n  type: openvpn\n  config: ovpn/client.ovpn\n  auth: /abs/auth.txt\n');
    const explicit = await loadConfig({ file: 'conf/vpnns.yaml', cwd: dir });
    assert.deepEqual(explicit.vpn, { type: 'openvpn', config: join(dir, 'conf/ovpn/client.ovpn'), auth: '/abs/auth.txt', connectTimeout: 30 });
    assert.equal(explicit.source, join(dir, 'conf/vpnns.yaml'));

    const none = join(dir, 'no-system.yaml');
    // Neither file: all defaults, no source.
    assert.deepEqual(await loadConfig({ cwd: dir, systemFile: none }), DEFAULTS);
    // ./vpnns.yaml from cwd.
    await writeFile(join(dir, 'vpnns.yaml'), 'namespace: local\n');
    const local = await loadConfig({ cwd: dir, systemFile: none });
    assert.equal(local.namespace, 'local');
    assert.equal(local.source, join(dir, 'vpnns.yaml'));
    // The system file wins over ./vpnns.yaml.
    const system = join(dir, 'system.yaml');
    await writeFile(system, 'namespace: sys\n');
    assert.equal((await loadConfig({ cwd: dir, systemFile: system })).namespace, 'sys');
    // Errors name the file as found.
    await writeFile(join(dir, 'vpnns.yaml'), 'namespace: local\nnetwork:\n  subnet: 10.0.0.0/31\n');
    await assert.rejects(loadConfig({ cwd: dir, systemFile: none }), { message: /^vpnns\.yaml:3: network\.subnet: / });
    // An explicit file that does not exist is an error, not defaults.
    await assert.rejects(loadConfig({ file: 'missing.yaml', cwd: dir }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.file, 'missing.yaml');
      assert.equal(err.path, '');
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /^missing\.yaml: no such file; check the path, or leave it out to use \/etc\/vpnns\/config\.yaml or \.\/vpnns\.yaml\.$/);
      return true;
    });
    await assert.rejects(loadConfig({ file: 'conf', cwd: dir }), { message: 'conf: cannot read it (EISDIR); make it a readable file.' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('schema/vpnns.schema.json is up to date with the DSL and strict', async () => {
  const onDisk = await readFile(new URL('../../../schema/vpnns.schema.json', import.meta.url), 'utf8');
  assert.equal(onDisk, renderJsonSchema(), 'schema/vpnns.schema.json is stale: run `npm run schema`');
  const schema = JSON.parse(onDisk) as Record<string, unknown>;
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  let objects = 0;
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${at}[${i}]`));
    if (node === null || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (o.properties !== undefined) {
      objects++;
      assert.equal(o.additionalProperties, false, `${at} must have additionalProperties: false`);
      for (const r of (o.required as string[] | undefined) ?? []) assert.ok(r in (o.properties as object), `${at}: required ${r} is not a property`);
    }
    for (const [k, v] of Object.entries(o)) if (k !== 'default') walk(v, `${at}/${k}`);
  };
  walk(schema, '#');
  assert.ok(objects >= 15, `only ${objects} objects found`);
  // Every key of the contract is described.
  const props = schema.properties as Record<string, { description?: string }>;
  assert.deepEqual(Object.keys(props), ['namespace', 'network', 'dns', 'vpn', 'killSwitch', 'proxies', 'publish', 'allow', 'hostServices', 'apps', 'sandbox', 'check', 'supervisor', 'metrics', 'logDir']);
  for (const [k, v] of Object.entries(props)) assert.ok(v.description, k);
});

test('the DSL defaults match the JSON Schema defaults and the loader', () => {
  const schemaDefault = (s: Schema): unknown => s.default;
  assert.equal(schemaDefault(configSchema.fields.namespace!), DEFAULTS.namespace);
  const json = toJsonSchema(configSchema) as { properties: Record<string, { default?: unknown }> };
  assert.deepEqual(json.properties.vpn!.default, DEFAULTS.vpn);
  assert.deepEqual(json.properties.publish!.default, []);
});

test('config reference table lists every key with type, default and description', () => {
  const md = renderConfigReference();
  const lines = md.trimEnd().split('\n');
  assert.equal(lines[0], '| Key | Type | Default | Description |');
  for (const line of lines) assert.match(line, /^\| .* \| .* \| .* \| .+ \|$/);
  assert.ok(lines.includes('| `network.subnet` | IPv4 CIDR | `10.0.0.0/30` | IPv4 network of the link, /24 to /30: the host end gets the first usable address, the namespace the second. |'));
  assert.ok(lines.includes('| `proxies.socks.port` | integer 1..65535 | `1080` | Port it listens on in the namespace. |'));
  for (const key of ['namespace', 'network.ipv6', 'network.mtu', 'dns', 'vpn.type', 'vpn.config', 'vpn.auth', 'vpn.implementation', 'vpn.location', 'vpn.binary',
    'vpn.start', 'vpn.stop', 'vpn.interface', 'vpn.endpoints', 'vpn.dns', 'vpn.connectTimeout', 'vpn.resolveWith', 'killSwitch', 'proxies.socks.username',
    'proxies.http.publish', 'publish[].host', 'apps.<name>.command', 'apps.<name>.requireVpn', 'check.echoUrl', 'supervisor.healthInterval', 'metrics.listen', 'logDir']) {
    assert.ok(md.includes(`| \`${key}\` |`), key);
  }
  assert.match(md, /\| `vpn\.connectTimeout` \| integer 1\.\.600 \| `30` \| \(all but none\) /);
});
