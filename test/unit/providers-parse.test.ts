import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pushedDns } from '../../src/vpn/openvpn.js';
import { parseAdguardStatus } from '../../src/vpn/adguard.js';

// What libexec/vpnns-openvpn-up writes: `env` lines filtered to the ones vpnns reads.
const OPENVPN_ENV = `dev=vt-vpn-ns
foreign_option_1=dhcp-option DNS 10.8.0.1
foreign_option_2=dhcp-option DOMAIN corp.example
foreign_option_3=dhcp-option DNS6 2001:db8::53
foreign_option_4=block-outside-dns
foreign_option_5=dhcp-option DNS 10.8.0.2
foreign_option_6=dhcp-option DNSSEC yes
foreign_option_7=dhcp-option ADAPTER_DOMAIN_SUFFIX corp.example
ifconfig_local=10.8.0.6
route_vpn_gateway=10.8.0.5
trusted_ip=198.51.100.7
`;

test('pushedDns: DNS and DNS6 in push order, other options ignored', () => {
  assert.deepEqual(pushedDns(OPENVPN_ENV), ['10.8.0.1', '2001:db8::53', '10.8.0.2']);
});

test('pushedDns: the single-line case and nothing pushed', () => {
  assert.deepEqual(pushedDns('foreign_option_1=dhcp-option DNS 10.8.0.1'), ['10.8.0.1']);
  assert.deepEqual(pushedDns(''), []);
  assert.deepEqual(pushedDns('dev=tun0\nifconfig_local=10.8.0.6\n'), []);
});

test('pushedDns: only foreign_option lines count, and CRLF does not stick to the address', () => {
  assert.deepEqual(pushedDns('foreign_option_1=dhcp-option DNS 10.8.0.1\r\nforeign_option_2=dhcp-option DNS 10.8.0.2\r\n'), ['10.8.0.1', '10.8.0.2']);
  assert.deepEqual(pushedDns('x_foreign_option_1=dhcp-option DNS 6.6.6.6\ncomment=foreign_option_1=dhcp-option DNS 6.6.6.6\n'), []);
});

test('adguard status: connected, location and tunnel', () => {
  assert.deepEqual(parseAdguardStatus('Connected to FRANKFURT in TUN mode, running on tun0\n'), {
    connected: true,
    location: 'FRANKFURT',
    tunnel: 'tun0',
    warning: undefined,
  });
  const multiWord = parseAdguardStatus('Connected to NEW YORK in TUN mode, running on tun1.');
  assert.equal(multiWord.location, 'NEW YORK');
  assert.equal(multiWord.tunnel, 'tun1');
});

test('adguard status: ANSI colours are stripped', () => {
  const coloured = '\x1b[1m\x1b[32mConnected\x1b[0m to \x1b[1mFRANKFURT\x1b[0m in \x1b[36mTUN\x1b[0m mode, running on \x1b[1mtun0\x1b[0m\n';
  const st = parseAdguardStatus(coloured);
  assert.equal(st.connected, true);
  assert.equal(st.location, 'FRANKFURT');
  assert.equal(st.tunnel, 'tun0');
});

test('adguard status: the DNS warning line is reported and does not hide the connection', () => {
  const text =
    'Connected to FRANKFURT in TUN mode, running on tun0\n' +
    '\x1b[33mWarning: system DNS is not changed; set-change-system-dns is off\x1b[0m\n';
  const st = parseAdguardStatus(text);
  assert.equal(st.connected, true);
  assert.equal(st.tunnel, 'tun0');
  assert.equal(st.warning, 'system DNS is not changed; set-change-system-dns is off');
  // A warning before the status line works the same.
  const first = parseAdguardStatus('Warning: DNS leak possible\nConnected to PARIS in TUN mode, running on tun0\n');
  assert.deepEqual([first.connected, first.location, first.warning], [true, 'PARIS', 'DNS leak possible']);
});

test('adguard status: disconnected', () => {
  assert.deepEqual(parseAdguardStatus('VPN is disconnected\n'), { connected: false, warning: undefined });
  assert.equal(parseAdguardStatus('\x1b[31mVPN is disconnected\x1b[0m').connected, false);
  assert.equal(parseAdguardStatus('').connected, false);
});

test('adguard status: SOCKS mode is connected but has no tunnel to wait for', () => {
  const st = parseAdguardStatus('Connected to FRANKFURT in SOCKS mode');
  assert.equal(st.connected, true);
  assert.equal(st.tunnel, undefined);
});
