import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeDropped, formatLine, ovpnFileBody, ovpnKnownOptions, parseOvpn, parseOvpnAuth, renderOvpnForNamespace, tokenizeLine } from '../../src/vpn/ovpn.js';
import { VpnConfigError } from '../../src/vpn/errors.js';

const CA = `-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUBz3vZ0Xq8fJbY4Tn1hM0cQ0xW5IwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLRXhhbXBsZSBWUE4wHhcNMjQwMTAxMDAwMDAwWhcNMzQwMTAx
-----END CERTIFICATE-----`;
const TLS_AUTH = `#
# 2048 bit OpenVPN static key
#
-----BEGIN OpenVPN Static key V1-----
e3a5f1c0d2b4a6987c8e9f0a1b2c3d4e
5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c
-----END OpenVPN Static key V1-----`;

const PROVIDER_OVPN = `# ExampleVPN - Stockholm
client
dev tun
proto udp
port 1195
remote se1.vpn.example.com
remote se2.vpn.example.com 443 tcp-client
remote 198.51.100.7 1194 udp6   # numeric fallback
;remote se3.vpn.example.com 1194
remote-random
resolv-retry infinite
nobind
persist-key
persist-tun
user nobody
group nogroup
auth-user-pass
cipher AES-256-GCM
verb 3
mark 0x5150
block-outside-dns
dhcp-option DNS 10.8.0.1
redirect-gateway def1 bypass-dhcp
setenv FRIENDLY_NAME "Example VPN (Stockholm)"
setenv LD_PRELOAD /tmp/x.so
key-direction 1
ca keys/ca.crt
<tls-auth>
${TLS_AUTH}
</tls-auth>
`;

test('parses remotes with the global port and proto, and what the provider needs', () => {
  const cfg = parseOvpn(PROVIDER_OVPN, '/etc/vpnns/example.ovpn');
  assert.deepEqual(cfg.remotes, [
    { host: 'se1.vpn.example.com', port: 1195, proto: 'udp', line: 6 },
    { host: 'se2.vpn.example.com', port: 443, proto: 'tcp', line: 7 },
    { host: '198.51.100.7', port: 1194, proto: 'udp', family: 6, line: 8 },
  ]);
  assert.equal(cfg.dev, 'tun');
  assert.deepEqual(cfg.authUserPass, { line: 17, inline: false });
  assert.deepEqual(cfg.redirectGateway, { flags: ['def1', 'bypass-dhcp'], line: 23 });
  assert.deepEqual(cfg.dns, ['10.8.0.1']);
  assert.deepEqual(cfg.dropped.map(describeDropped), [
    'persist-tun (line 14)',
    'user (line 15)',
    'group (line 16)',
    'block-outside-dns (line 21)',
    'setenv (line 25)',
  ]);
  assert.match(cfg.dropped[4]!.why, /only reaches scripts/);
  assert.deepEqual(cfg.files, [{ option: 'ca', block: 'ca', path: 'keys/ca.crt', resolved: '/etc/vpnns/keys/ca.crt', line: 27 }]);
  const inline = cfg.items.filter((i) => i.kind === 'inline');
  assert.deepEqual(inline, [{ kind: 'inline', name: 'tls-auth', body: TLS_AUTH, line: 28 }]);
});

test('renders the namespace config: numeric remotes, our dev, files and credentials inline, no hooks, decimal mark', () => {
  const cfg = parseOvpn(PROVIDER_OVPN, '/etc/vpnns/example.ovpn');
  const out = renderOvpnForNamespace(cfg, {
    remotes: [
      { ip: '203.0.113.10', port: 1195, proto: 'udp' },
      { ip: '203.0.113.11', port: 443, proto: 'tcp' },
      { ip: '198.51.100.7', port: 1194, proto: 'udp' },
    ],
    dev: 'vpnns0',
    auth: { username: 'alice', password: 's3cret' },
    files: new Map([[27, CA]]),
    upScript: '/usr/lib/vpnns/openvpn-up',
    stateDir: '/run/vpnns/demo',
    mark: 0x5150,
    runAs: { user: 'nobody', group: 'nogroup' },
  });
  assert.equal(
    out.text,
    `# Written by vpnns from /etc/vpnns/example.ovpn; edit that file, not this one.
client
remote-random
nobind
persist-key
cipher AES-256-GCM
verb 3
dhcp-option DNS 10.8.0.1
redirect-gateway def1 bypass-dhcp
setenv FRIENDLY_NAME "Example VPN (Stockholm)"
key-direction 1
<ca>
${CA}
</ca>
<tls-auth>
${TLS_AUTH}
</tls-auth>
# vpnns
dev vpnns0
dev-type tun
disable-dco
remote 203.0.113.10 1195 udp
remote 203.0.113.11 443 tcp
remote 198.51.100.7 1194 udp
<auth-user-pass>
alice
s3cret
</auth-user-pass>
setenv VPNNS_STATE_DIR /run/vpnns/demo
script-security 2
up /usr/lib/vpnns/openvpn-up
up-restart
mark 20816
user nobody
group nogroup
`,
  );
  assert.deepEqual(out.dropped, cfg.dropped);
  assert.doesNotMatch(out.text, /persist-tun|0x5150|resolv-retry|se1\.vpn|LD_PRELOAD|keys\/ca\.crt|block-outside-dns/m);
  // Every file the config names must be supplied: OpenVPN is never given the path.
  assert.throws(() => renderOvpnForNamespace(cfg, { remotes: [{ ip: '203.0.113.10', port: 1195, proto: 'udp' }], dev: 'vpnns0' }), /no contents for "ca keys\/ca\.crt"/);
});

test('minimal render: the mark is kept and made decimal; no cd, no path of the user\'s', () => {
  const cfg = parseOvpn('remote 198.51.100.1\nmark 0x10\n', 'rel/x.ovpn');
  assert.equal(
    renderOvpnForNamespace(cfg, { remotes: [{ ip: '2001:db8::1', port: 1194, proto: 'udp' }], dev: 'tun-x' }).text,
    `# Written by vpnns from rel/x.ovpn; edit that file, not this one.
mark 16
# vpnns
dev tun-x
dev-type tun
disable-dco
remote 2001:db8::1 1194 udp
`,
  );
});

const CONNECTIONS_OVPN = `client
dev tun0
proto tcp
persist-tun
<connection>
remote conn1.example.net 443
nobind
</connection>

<connection>
remote 203.0.113.9
port 2000
proto udp4
explicit-exit-notify 2
</connection>
<auth-user-pass>
alice
s3cret
</auth-user-pass>
<key>
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBPn
-----END PRIVATE KEY-----
</key>
`;

test('<connection> blocks: remotes with the block\'s own port/proto, other options reported', () => {
  const cfg = parseOvpn(CONNECTIONS_OVPN, 'multi.ovpn');
  assert.deepEqual(cfg.remotes, [
    { host: 'conn1.example.net', port: 443, proto: 'tcp', line: 6, connection: 5 },
    { host: '203.0.113.9', port: 2000, proto: 'udp', family: 4, line: 11, connection: 10 },
  ]);
  assert.equal(cfg.dev, 'tun0');
  assert.deepEqual(cfg.authUserPass, { line: 16, inline: true });
  assert.deepEqual(cfg.dropped.map(describeDropped), [
    'persist-tun (line 4)',
    'nobind (line 7, in the <connection> of line 5)',
    'explicit-exit-notify (line 14, in the <connection> of line 10)',
  ]);
  // With vpn.auth the file's inline credentials are left out; without it they stay.
  const withAuth = renderOvpnForNamespace(cfg, { remotes: [{ ip: '203.0.113.9', port: 2000, proto: 'udp' }], dev: 'vt0', auth: { username: 'bob', password: 'pw' } }).text;
  assert.equal(
    withAuth,
    `# Written by vpnns from multi.ovpn; edit that file, not this one.
client
<key>
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBPn
-----END PRIVATE KEY-----
</key>
# vpnns
dev vt0
dev-type tun
disable-dco
remote 203.0.113.9 2000 udp
<auth-user-pass>
bob
pw
</auth-user-pass>
`,
  );
  const withoutAuth = renderOvpnForNamespace(cfg, { remotes: [{ ip: '203.0.113.9', port: 2000, proto: 'udp' }], dev: 'vt0' }).text;
  assert.match(withoutAuth, /^<auth-user-pass>\nalice\ns3cret\n<\/auth-user-pass>$/m);
  assert.doesNotMatch(withoutAuth, /<connection>|conn1/);
});

test('proto spellings, rport, "--" prefixes, quoting and comments', () => {
  const cfg = parseOvpn(
    [
      '  # indented comment',
      '; semicolon comment',
      '--proto tcp6-client',
      'rport 8443',
      'remote a.example.com',
      'remote b.example.com 53 udp',
      "remote c.example.com 80 tcp4 ;trailing comment",
      'remote d.example.com 443 tcp-client',
      'setenv  UV_X  "a \\"quoted\\" #word"   # comment',
      "setenv UV_Y 'single \\ quoted'",
      'setenv UV_Z semi;colon#hash',
    ].join('\n'),
  );
  assert.deepEqual(
    cfg.remotes.map((r) => [r.host, r.port, r.proto, r.family]),
    [
      ['a.example.com', 8443, 'tcp', 6],
      ['b.example.com', 53, 'udp', undefined],
      ['c.example.com', 80, 'tcp', 4],
      ['d.example.com', 443, 'tcp', undefined],
    ],
  );
  const setenv = cfg.items.filter((i) => i.kind === 'option' && i.name === 'setenv').map((i) => (i.kind === 'option' ? i.args : []));
  assert.deepEqual(setenv, [
    ['UV_X', 'a "quoted" #word'],
    ['UV_Y', 'single \\ quoted'],
    ['UV_Z', 'semi;colon#hash'],
  ]);
  const text = renderOvpnForNamespace(cfg, { remotes: [{ ip: '198.51.100.2', port: 1, proto: 'tcp' }], dev: 'tun9' }).text;
  assert.match(text, /^setenv UV_X "a \\"quoted\\" #word"$/m);
  assert.match(text, /^setenv UV_Y "single \\\\ quoted"$/m);
  assert.match(text, /^setenv UV_Z "semi;colon#hash"$/m);
});

test('tokenizer and formatLine round-trip', () => {
  assert.deepEqual(tokenizeLine('remote  host 1194   udp'), ['remote', 'host', '1194', 'udp']);
  assert.deepEqual(tokenizeLine('\t'), []);
  assert.deepEqual(tokenizeLine('x "" y'), ['x', '', 'y']);
  assert.deepEqual(tokenizeLine('x a\\ b'), ['x', 'a b']);
  for (const args of [['plain'], ['with space'], ['q"uote', "s'ingle"], ['back\\slash'], [''], ['#lead', ';lead']]) {
    assert.deepEqual(tokenizeLine(formatLine('opt', args)), ['opt', ...args]);
  }
});

test('the render is deterministic and rejects caller mistakes', () => {
  const cfg = parseOvpn(PROVIDER_OVPN, '/etc/vpnns/example.ovpn');
  const opts = { remotes: [{ ip: '203.0.113.10', port: 1195, proto: 'udp' as const }], dev: 'vpnns0', mark: 1, files: new Map([[27, CA]]) };
  assert.equal(renderOvpnForNamespace(cfg, opts).text, renderOvpnForNamespace(parseOvpn(PROVIDER_OVPN, '/etc/vpnns/example.ovpn'), opts).text);
  assert.throws(() => renderOvpnForNamespace(cfg, { ...opts, remotes: [] }), /no remotes/);
  assert.throws(() => renderOvpnForNamespace(cfg, { ...opts, remotes: [{ ip: 'vpn.example.com', port: 1, proto: 'udp' }] }), /not an IP address/);
  assert.throws(() => renderOvpnForNamespace(cfg, { ...opts, mark: 1.5 }), /32-bit integer/);
  assert.throws(() => renderOvpnForNamespace(cfg, { ...opts, upScript: '/path with space/up' }), /must not contain spaces/);
  assert.throws(() => renderOvpnForNamespace(cfg, { ...opts, dev: 'a name that is too long' }), /bad device name/);
});

function errorOf(text: string): VpnConfigError {
  try {
    parseOvpn(text, 'x.ovpn');
  } catch (err) {
    assert.ok(err instanceof VpnConfigError, String(err));
    assert.equal(err.exitCode, 2);
    assert.equal(err.file, 'x.ovpn');
    return err;
  }
  assert.fail('expected a VpnConfigError');
}

test('errors name the line, with the fix', () => {
  const cases: Array<[string, string, number | undefined]> = [
    ['client\ndev tun\n', 'x.ovpn: no "remote" line; add e.g. "remote vpn.example.com 1194 udp".', undefined],
    ['client\nremote\n', 'x.ovpn:2: "remote" needs a host, e.g. "remote vpn.example.com 1194 udp".', 2],
    ['remote vpn.example.com 70000\n', 'x.ovpn:1: bad port "70000"; expected an integer from 1 to 65535.', 1],
    ['remote vpn.example.com 0\n', 'x.ovpn:1: bad port "0"; expected an integer from 1 to 65535.', 1],
    ['remote vpn.example.com\nport https\n', 'x.ovpn:2: bad port "https"; expected an integer from 1 to 65535.', 2],
    ['remote vpn.example.com 1194 icmp\n', 'x.ovpn:1: unknown protocol "icmp"; expected udp or tcp.', 1],
    ['remote vpn.example.com 1194 udp extra\n', 'x.ovpn:1: "remote" takes at most a host, a port and a protocol, got 4 arguments.', 1],
    ['remote vpn..example.com\n', 'x.ovpn:1: "vpn..example.com" is neither an IP address nor a host name.', 1],
    ['remote a.example.com\nproto tcp-server\n', 'x.ovpn:2: "tcp-server" makes this a server config; vpnns needs a client config (tcp-client or udp).', 2],
    ['remote a.example.com\n<ca>\n-----BEGIN CERTIFICATE-----\n', 'x.ovpn:2: <ca> is not closed; add "</ca>" after its contents.', 2],
    ['remote a.example.com\n<cax>\n</cax>\n', 'x.ovpn:2: unknown inline block <cax>; did you mean <ca>?', 2],
    ['remote a.example.com\n<ca> MIIB\n</ca>\n', 'x.ovpn:2: put the contents of <ca> on the lines after the tag.', 2],
    ['remote a.example.com\n</ca>\n', 'x.ovpn:2: </ca> without a matching <ca> before it.', 2],
    ['<connection>\nremote a.example.com\n', 'x.ovpn:1: <connection> is not closed; add "</connection>" after its options.', 1],
    ['<connection>\n<connection>\n', 'x.ovpn:2: <connection> inside the <connection> block of line 1; close that one first with </connection>.', 2],
    ['<connection>\nremote a.example.com\n<ca>\n</ca>\n</connection>\n', 'x.ovpn:3: <ca> cannot be inside a <connection> block; move it after </connection>.', 3],
    ['<connection>\nremote\n</connection>\n', 'x.ovpn:2: "remote" needs a host, e.g. "remote vpn.example.com 1194 udp".', 2],
    ['remote a.example.com\nsetenv X "open\n', 'x.ovpn:2: unterminated " quote; close it on the same line.', 2],
    ['remote a.example.com\nca /etc/ca.crt \\\n', 'x.ovpn:2: the line ends with a backslash; OpenVPN options cannot continue on the next line.', 2],
    ['remote a.example.com\ndev tap\n', 'x.ovpn:2: "dev tap" (layer 2) is not supported; vpnns runs OpenVPN with "dev tun".', 2],
    ['remote a.example.com\nconfig other.ovpn\n', 'x.ovpn:2: "config" includes another file; paste its contents into this one instead.', 2],
    ['remote a.example.com\nhttp-proxy proxy.example.com 8080\n', 'x.ovpn:2: "http-proxy" is not supported: the namespace only lets OpenVPN reach its remotes; remove it or use a config without a proxy.', 2],
    ['remote a.example.com\nmode server\n', 'x.ovpn:2: "mode server" makes this a server config; vpnns needs a client config.', 2],
    ['remote a.example.com\ndhcp-option DNS dns.example.com\n', 'x.ovpn:2: "dhcp-option DNS dns.example.com" needs an IP address.', 2],
  ];
  for (const [text, message, line] of cases) {
    const err = errorOf(text);
    assert.equal(err.message, message);
    assert.equal(err.line, line, message);
  }
});


/** One sentence: `x.ovpn:N: "name" …` with no full stop before the end. */
function assertOneSentence(message: string, line: number, name: string) {
  assert.ok(message.startsWith(`x.ovpn:${line}: "${name}`), message);
  assert.match(message, /[.?]$/);
  assert.doesNotMatch(message.slice(0, -1), /\.\s/, `one sentence: ${message}`);
}

// ATTACK 3: options that load code or read or write files are refused with the line and the way instead.
const REFUSED: Array<[line: string, fix: RegExp]> = [
  ['providers /tmp/x.so', /loads an OpenSSL provider library.*delete the line/],
  ['providers legacy default', /loads an OpenSSL provider library/],
  ['engine dynamic', /engine library.*"key"/],
  ['plugin /tmp/x.so', /loads a library into OpenVPN, which runs as root.*delete the line/],
  ['plugin /usr/lib/openvpn/openvpn-plugin-auth-pam.so login', /loads a library/],
  ['pkcs11-providers /tmp/p11.so', /PKCS#11 library.*"cert" and "key"/],
  ['pkcs11-id "slot 1"', /PKCS#11/],
  ['up /tmp/x.sh', /runs a program as root.*delete the line/],
  ['down /tmp/x.sh', /runs a program as root/],
  ['down-pre', /runs a program as root/],
  ['route-up "/bin/sh -c id"', /runs a program as root/],
  ['route-pre-down /tmp/x', /runs a program as root/],
  ['ipchange /tmp/x', /runs a program as root/],
  ['tls-verify /tmp/x', /runs a program as root/],
  ['learn-address /tmp/x', /runs a program as root/],
  ['client-connect /tmp/x', /runs a program as root/],
  ['client-disconnect /tmp/x', /runs a program as root/],
  ['auth-user-pass-verify /tmp/x via-file', /runs a program as root/],
  ['tls-crypt-v2-verify /tmp/x', /runs a program as root/],
  ['script-security 2', /only allows scripts.*delete the line/],
  ['iproute /tmp/ip', /another program instead of ip\(8\)/],
  ['auth-user-pass /etc/shadow', /read that file and send it to the server; .*set vpn\.auth/],
  ['askpass /root/pass.txt', /passphrase.*openssl pkey/],
  ['askpass', /passphrase/],
  ['tls-export-cert /tmp/certs', /write a file as root; delete the line/],
  ['management 127.0.0.1 7505', /control socket.*delete the line/],
  ['management /run/x.sock unix', /control socket/],
  ['management-hold', /management interface.*delete the line/],
  ['management-external-key', /management interface/],
  ['status /tmp/status.log', /write a file as root; delete the line \("vpnns status"/],
  ['log /etc/cron.d/x', /write a file as root; delete the line \(vpnns writes OpenVPN's output/],
  ['log-append /etc/cron.d/x', /write a file as root/],
  ['writepid /etc/passwd', /write a file as root/],
  ['replay-persist /etc/x', /write a file as root/],
  ['tmp-dir /etc', /write a file as root/],
  ['capath /etc/ssl/private', /whole directory.*"ca"/],
  ['config /etc/shadow', /includes another file/],
  ['cryptoapicert "SUBJ:x"', /Windows-only/],
  ['genkey secret /etc/x.key', /not an OpenVPN client option vpnns lets through.*delete the line/],
  ['plugn /tmp/x.so', /not an OpenVPN client option.*did you mean "plugin"\?/],
  ['--up /tmp/x.sh', /runs a program as root/],
];

test('ATTACK 3: every option that loads code or reads or writes files is refused: one sentence with the line and the fix', () => {
  for (const [line, fix] of REFUSED) {
    const err = errorOf(`client\nremote 198.51.100.1\n${line}\n`);
    assert.equal(err.line, 3, line);
    const name = line.split(' ')[0]!.replace(/^--/, '');
    assertOneSentence(err.message, 3, name);
    assert.match(err.message, fix, line);
  }
});

test('the same options are refused inside a <connection> block and behind "setenv opt"', () => {
  for (const hostile of ['plugin /tmp/x.so', 'up /tmp/x.sh', 'providers /tmp/x.so', 'auth-user-pass /etc/shadow']) {
    const inBlock = errorOf(`<connection>\nremote 198.51.100.1\n${hostile}\n</connection>\n`);
    assert.equal(inBlock.line, 3, hostile);
    assert.match(inBlock.message, /^x\.ovpn:3: "(plugin|up|providers|auth-user-pass)/);
    // OpenVPN reads "setenv opt X" as X (ignored only if unknown): it loads a plugin so named (verified, 2.6.14).
    const viaOpt = errorOf(`remote 198.51.100.1\nsetenv opt ${hostile}\n`);
    assert.equal(viaOpt.line, 2, hostile);
    assert.match(viaOpt.message, /^x\.ovpn:2: "(plugin|up|providers|auth-user-pass)/);
  }
  // A file option in a block would be read from the block's own scope, which vpnns flattens.
  assert.match(errorOf('<connection>\nremote 198.51.100.1\nca /etc/shadow\n</connection>\n').message, /"ca" cannot be inside a <connection> block/);
  // Unknown behind "setenv opt": OpenVPN would ignore it, so vpnns drops it with a warning.
  const cfg = parseOvpn('remote 198.51.100.1\nsetenv opt block-outside-dns\nsetenv opt no-such-option 1\nsetenv opt verb 4\n');
  assert.deepEqual(cfg.dropped.map(describeDropped), ['block-outside-dns (line 2)', 'no-such-option (line 3)']);
  assert.match(renderOvpnForNamespace(cfg, { remotes: [{ ip: '198.51.100.1', port: 1194, proto: 'udp' }], dev: 't0' }).text, /^setenv opt verb 4$/m);
});

test('process and Windows-only options are dropped with a reason; setenv keeps only inert names', () => {
  const dropped = ['user nobody', 'group nogroup', 'daemon', 'chroot /var/empty', 'syslog', 'nice -5', 'mlock', 'status-version 2', 'persist-tun',
    'local 192.168.1.2', 'remote-random-hostname', 'block-outside-dns', 'register-dns', 'setenv LD_PRELOAD /tmp/x.so', 'setenv PATH /tmp', 'setenv BASH_ENV /tmp/x'];
  const cfg = parseOvpn(['remote 198.51.100.1', ...dropped, 'setenv UV_NAME me', 'setenv-safe LD_PRELOAD harmless', 'setenv FORWARD_COMPATIBLE 1'].join('\n'));
  assert.deepEqual(cfg.dropped.map((d) => d.line), dropped.map((_, i) => i + 2));
  for (const d of cfg.dropped) assert.ok(d.why.length > 10, d.option);
  const out = renderOvpnForNamespace(cfg, { remotes: [{ ip: '198.51.100.1', port: 1194, proto: 'udp' }], dev: 'tun0' }).text;
  assert.doesNotMatch(out, /nobody|chroot|syslog|mlock|persist-tun|LD_PRELOAD \/tmp|PATH|BASH_ENV|block-outside/);
  // setenv-safe becomes OPENVPN_LD_PRELOAD, inert.
  assert.match(out, /^setenv UV_NAME me\nsetenv-safe LD_PRELOAD harmless\nsetenv FORWARD_COMPATIBLE 1$/m);
});

test('no option that runs code or opens a path is on the keep list', () => {
  // From the OpenVPN 2.6 manual: every option whose argument is a program, a library, a file or a directory.
  const dangerous = ['up', 'down', 'down-pre', 'route-up', 'route-pre-down', 'ipchange', 'tls-verify', 'learn-address', 'client-connect',
    'client-disconnect', 'auth-user-pass-verify', 'tls-crypt-v2-verify', 'plugin', 'providers', 'engine', 'iproute', 'script-security',
    'askpass', 'capath', 'tls-export-cert', 'status', 'log', 'log-append', 'writepid', 'replay-persist', 'tmp-dir', 'management', 'config',
    'cd', 'chroot', 'genkey', 'client-config-dir', 'ccd-exclusive', 'ifconfig-pool-persist', 'auth-gen-token-secret', 'tls-crypt-v2-verify',
    'pkcs11-providers', 'pkcs11-id', 'cryptoapicert', 'http-proxy', 'http-proxy-user-pass', 'setenv', 'mktun', 'rmtun', 'dh', 'ca', 'cert', 'key',
    'extra-certs', 'crl-verify', 'pkcs12', 'tls-auth', 'tls-crypt', 'tls-crypt-v2', 'secret', 'auth-user-pass'];
  for (const name of dangerous) {
    let kept = false;
    try {
      const cfg = parseOvpn(`remote 198.51.100.1\n${name} /tmp/x\n`);
      // Parsed: then it must be a file read by vpnns (never passed on) or dropped.
      kept = cfg.kept.some((k) => k.kind === 'line' && k.name === name);
    } catch (err) {
      assert.ok(err instanceof VpnConfigError, String(err));
    }
    assert.equal(kept, false, `${name} must never reach OpenVPN as a line`);
  }
  assert.ok(ovpnKnownOptions().length > 100);
});

test('inline blocks end where OpenVPN ends them, so nothing hides inside one', () => {
  // OpenVPN 2.6.14 ends <ca> at a line that starts with </ca> and then parses "plugin" as an option (verified).
  const smuggled = errorOf('remote 198.51.100.1\n<ca>\n</ca>x\nplugin /tmp/x.so\n</ca>\n');
  assert.equal(smuggled.line, 3);
  assert.match(smuggled.message, /put nothing after "<\/ca>" on its line/);
  // Leading blanks, as C's isspace() sees them, do not hide a closing tag either.
  assert.equal(errorOf('remote 198.51.100.1\n<ca>\n \t</ca> plugin\n').line, 3);
  // OpenVPN splits lines at 255 bytes, so a closing tag at byte 256 of a long line would end the block.
  const long = errorOf(`remote 198.51.100.1\n<ca>\n${'A'.repeat(255)}</ca>\nplugin /tmp/x.so\n</ca>\n`);
  assert.equal(long.line, 3);
  assert.match(long.message, /longer than 250 bytes, which OpenVPN would split.*inside the <ca> block of line 2/);
  assert.match(errorOf(`remote 198.51.100.1\nsetenv UV_X "${'a'.repeat(260)}"\n`).message, /x\.ovpn:2: the line is longer than 250 bytes/);
  assert.match(errorOf('remote 198.51.100.1\nverb 3\u0000\n').message, /x\.ovpn:2: the line holds a control character/);
  assert.match(errorOf('remote 198.51.100.1\n<ca>\nMIIB\u000b\n</ca>\n').message, /x\.ovpn:3: the line holds a control character/);
  // A unicode space is not blank to OpenVPN: the line stays inside the block, here and there.
  const nbsp = parseOvpn('remote 198.51.100.1\n<ca>\n\u00a0</ca>\n</ca>\n');
  assert.deepEqual(nbsp.items.filter((i) => i.kind === 'inline').map((i) => (i.kind === 'inline' ? i.body : '')), ['\u00a0</ca>']);
});

test('files the config names become inline blocks; relative names follow the config\'s directory and "cd"', () => {
  const cfg = parseOvpn(
    ['remote 198.51.100.1', 'ca ca.crt', 'cd /srv/vpn', 'cert client.crt', 'key /abs/client.key', 'tls-auth ta.key 1', 'crl-verify crl.pem', 'pkcs12 id.p12', 'dh none', 'tls-crypt-v2 v2.key'].join('\n'),
    '/etc/vpnns/p.ovpn',
  );
  assert.deepEqual(
    cfg.files.map((f) => [f.option, f.resolved, f.direction]),
    [
      ['ca', '/etc/vpnns/ca.crt', undefined],
      ['cert', '/srv/vpn/client.crt', undefined],
      ['key', '/abs/client.key', undefined],
      ['tls-auth', '/srv/vpn/ta.key', '1'],
      ['crl-verify', '/srv/vpn/crl.pem', undefined],
      ['pkcs12', '/srv/vpn/id.p12', undefined],
      ['tls-crypt-v2', '/srv/vpn/v2.key', undefined],
    ],
  );
  const files = new Map(cfg.files.map((f) => [f.line, `body of ${f.option}`]));
  const text = renderOvpnForNamespace(cfg, { remotes: [{ ip: '198.51.100.1', port: 1194, proto: 'udp' }], dev: 't0', files }).text;
  assert.match(text, /^<tls-auth>\nbody of tls-auth\n<\/tls-auth>\nkey-direction 1$/m);
  assert.match(text, /^dh none$/m);
  assert.doesNotMatch(text, /\.crt|\.key|\.p12|crl\.pem|\/srv|\/abs|^cd /m);
  for (const [line, message] of [
    ['crl-verify /etc/crls dir', /"crl-verify \/etc\/crls dir" makes OpenVPN read a directory as root/],
    ['tls-auth ta.key 2', /key direction after "tls-auth ta\.key" must be 0 or 1/],
    ['ca [inline]', /"ca \[inline\]" is not needed with a <ca> block/],
    ['ca', /"ca" takes one file name; or put the file's contents in a <ca> block/],
    ['cert a.crt b.crt', /"cert" takes one file name/],
  ] as const) {
    assert.match(errorOf(`remote 198.51.100.1\n${line}\n`).message, message, line);
  }
});

test('a named file must hold what its option needs; the message names the path, never the contents', () => {
  const cfg = { file: 'x.ovpn' };
  const ref = (option: string) => ({ option, block: option, path: `/some/${option}`, resolved: `/some/${option}`, line: 4 });
  const shadow = Buffer.from('root:$y$j9T$secrethash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n');
  for (const option of ['ca', 'cert', 'key', 'extra-certs', 'dh', 'crl-verify', 'tls-auth', 'tls-crypt', 'secret', 'tls-crypt-v2', 'pkcs12']) {
    try {
      ovpnFileBody(cfg, ref(option), shadow);
      assert.fail(`${option} accepted /etc/shadow`);
    } catch (err) {
      assert.ok(err instanceof VpnConfigError, String(err));
      assert.equal(err.line, 4);
      assert.match(err.message, new RegExp(`^x\\.ovpn:4: "${option}" names /some/${option}, which (does not hold|is not a PKCS#12)`));
      assert.doesNotMatch(err.message, /root:|secrethash|daemon/);
    }
  }
  assert.equal(ovpnFileBody(cfg, ref('ca'), Buffer.from(`${CA}\r\n\r\n`)), CA);
  assert.equal(ovpnFileBody(cfg, ref('tls-auth'), Buffer.from(TLS_AUTH + '\n')), TLS_AUTH);
  // PKCS#12 is binary: base64 inline, 64 columns.
  const der = Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x00]), Buffer.alloc(60, 7)]);
  assert.equal(ovpnFileBody(cfg, ref('pkcs12'), der), der.toString('base64').slice(0, 64) + '\n' + der.toString('base64').slice(64));
  // A file whose text would end the block early, or be split, is refused too.
  assert.throws(() => ovpnFileBody(cfg, ref('ca'), Buffer.from(`${CA}\n</ca>\nplugin /tmp/x.so\n`)), /cannot be passed on inline: line 5 of it would end the <ca> block early/);
  assert.throws(() => ovpnFileBody(cfg, ref('ca'), Buffer.from(`${CA}\n${'x'.repeat(300)}\n`)), /cannot be passed on inline: line 5 of it: it is longer than 250 bytes/);
});

test('an <auth-user-pass> block answers an auth-user-pass line before or after it', () => {
  for (const text of ['remote 198.51.100.1\nauth-user-pass\n<auth-user-pass>\na\nb\n</auth-user-pass>\n', 'remote 198.51.100.1\n<auth-user-pass>\na\nb\n</auth-user-pass>\nauth-user-pass\n']) {
    const cfg = parseOvpn(text);
    assert.equal(cfg.authUserPass?.inline, true);
    const out = renderOvpnForNamespace(cfg, { remotes: [{ ip: '198.51.100.1', port: 1194, proto: 'udp' }], dev: 't0' }).text;
    assert.match(out, /^<auth-user-pass>\na\nb\n<\/auth-user-pass>$/m);
    assert.doesNotMatch(out, /^auth-user-pass$/m);
  }
});

test('vpn.auth: user on line 1, password on line 2, written inline', () => {
  assert.deepEqual(parseOvpnAuth('alice\ns3cret\n'), { username: 'alice', password: 's3cret' });
  assert.deepEqual(parseOvpnAuth('alice\r\ns3 cret\r\n'), { username: 'alice', password: 's3 cret' });
  assert.equal(parseOvpnAuth('alice\n'), 'put the user name on line 1 and the password on line 2');
  assert.equal(parseOvpnAuth(''), 'put the user name on line 1 and the password on line 2');
  assert.match(parseOvpnAuth('alice\n</auth-user-pass>\n') as string, /cannot be passed to OpenVPN: .*would end the <auth-user-pass> block/);
  assert.match(parseOvpnAuth(`alice\n${'p'.repeat(300)}\n`) as string, /longer than 250 bytes/);
});
