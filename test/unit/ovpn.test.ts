import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLine, parseOvpn, renderOvpnForNamespace, tokenizeLine } from '../../src/vpn/ovpn.js';
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
script-security 2
up /etc/openvpn/update-resolv-conf
down /etc/openvpn/update-resolv-conf
status /var/log/openvpn-status.log
management 127.0.0.1 7505
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
  assert.deepEqual(cfg.redirectGateway, { flags: ['def1', 'bypass-dhcp'], line: 27 });
  assert.deepEqual(cfg.dns, ['10.8.0.1']);
  assert.deepEqual(cfg.dropped, [
    'persist-tun (line 14)',
    'user (line 15)',
    'group (line 16)',
    'up (line 22)',
    'down (line 23)',
    'status (line 24)',
    'management (line 25)',
  ]);
  const inline = cfg.items.filter((i) => i.kind === 'inline');
  assert.deepEqual(inline, [
    { kind: 'inline', name: 'ca', body: CA, line: 30 },
    { kind: 'inline', name: 'tls-auth', body: TLS_AUTH, line: 36 },
  ]);
});

test('renders the namespace config: numeric remotes, our dev, no hooks, decimal mark', () => {
  const cfg = parseOvpn(PROVIDER_OVPN, '/etc/vpnns/example.ovpn');
  const out = renderOvpnForNamespace(cfg, {
    remotes: [
      { ip: '203.0.113.10', port: 1195, proto: 'udp' },
      { ip: '203.0.113.11', port: 443, proto: 'tcp' },
      { ip: '198.51.100.7', port: 1194, proto: 'udp' },
    ],
    dev: 'vpnns0',
    authFile: '/run/vpnns/demo/auth',
    upScript: '/usr/lib/vpnns/openvpn-up',
    stateDir: '/run/vpnns/demo',
    mark: 0x5150,
  });
  assert.equal(
    out.text,
    `# Written by vpnns from /etc/vpnns/example.ovpn; edit that file, not this one.
cd /etc/vpnns
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
auth-user-pass /run/vpnns/demo/auth
setenv VPNNS_STATE_DIR /run/vpnns/demo
script-security 2
up /usr/lib/vpnns/openvpn-up
up-restart
mark 20816
`,
  );
  assert.deepEqual(out.dropped, cfg.dropped);
  assert.doesNotMatch(out.text, /persist-tun|0x5150|resolv-retry|se1\.vpn|update-resolv-conf|management|^user |^group /m);
});

test('minimal render: the user\'s auth-user-pass file and mark are kept, hex mark made decimal', () => {
  const cfg = parseOvpn('remote 198.51.100.1\nauth-user-pass "/etc/openvpn/my creds.txt"\nmark 0x10\n', 'rel/x.ovpn');
  assert.deepEqual(cfg.authUserPass, { line: 2, inline: false, file: '/etc/openvpn/my creds.txt' });
  assert.equal(
    renderOvpnForNamespace(cfg, { remotes: [{ ip: '2001:db8::1', port: 1194, proto: 'udp' }], dev: 'tun-x' }).text,
    `# Written by vpnns from rel/x.ovpn; edit that file, not this one.
auth-user-pass "/etc/openvpn/my creds.txt"
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
  assert.deepEqual(cfg.dropped, [
    'persist-tun (line 4)',
    'nobind (line 7, in the <connection> of line 5)',
    'explicit-exit-notify (line 14, in the <connection> of line 10)',
  ]);
  // With an auth file the inline credentials are left out; without one they stay.
  const withAuth = renderOvpnForNamespace(cfg, { remotes: [{ ip: '203.0.113.9', port: 2000, proto: 'udp' }], dev: 'vt0', authFile: '/run/a' }).text;
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
auth-user-pass /run/a
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
      'setenv  X  "a \\"quoted\\" #word"   # comment',
      "setenv Y 'single \\ quoted'",
      'setenv Z semi;colon#hash',
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
    ['X', 'a "quoted" #word'],
    ['Y', 'single \\ quoted'],
    ['Z', 'semi;colon#hash'],
  ]);
  const text = renderOvpnForNamespace(cfg, { remotes: [{ ip: '198.51.100.2', port: 1, proto: 'tcp' }], dev: 'tun9' }).text;
  assert.match(text, /^setenv X "a \\"quoted\\" #word"$/m);
  assert.match(text, /^setenv Y "single \\\\ quoted"$/m);
  assert.match(text, /^setenv Z "semi;colon#hash"$/m);
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
  const opts = { remotes: [{ ip: '203.0.113.10', port: 1195, proto: 'udp' as const }], dev: 'vpnns0', mark: 1 };
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

test('every option that runs a program or manages the process is dropped and reported', () => {
  const hooks = ['up', 'down', 'down-pre', 'route-up', 'route-pre-down', 'ipchange', 'tls-verify', 'learn-address', 'auth-user-pass-verify', 'plugin', 'iproute',
    'user', 'group', 'daemon', 'chroot', 'log', 'log-append', 'syslog', 'writepid', 'status', 'management', 'management-hold', 'persist-tun', 'local', 'remote-random-hostname'];
  const text = ['remote 198.51.100.1', ...hooks.map((h) => `${h} /bin/x`)].join('\n');
  const cfg = parseOvpn(text);
  assert.deepEqual(cfg.dropped, hooks.map((h, i) => `${h} (line ${i + 2})`));
  const out = renderOvpnForNamespace(cfg, { remotes: [{ ip: '198.51.100.1', port: 1194, proto: 'udp' }], dev: 'tun0' }).text;
  assert.doesNotMatch(out, /\/bin\/x/);
});
