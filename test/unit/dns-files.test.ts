import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DNS, effectiveDns, renderNsswitch, renderResolvConf } from '../../src/net/dns-files.js';

const nameservers = (text: string) => text.split('\n').filter((l) => l.startsWith('nameserver '));

test('resolv.conf: servers in order, at most three (glibc ignores the rest), a short timeout', () => {
  const text = renderResolvConf(['10.8.0.1', '10.8.0.2', '2001:db8::53', '10.8.0.4', '10.8.0.5'], 'DNS supplied by the VPN');
  assert.deepEqual(nameservers(text), ['nameserver 10.8.0.1', 'nameserver 10.8.0.2', 'nameserver 2001:db8::53']);
  assert.match(text, /^options timeout:\d+ attempts:\d+$/m);
  assert.match(text, /^# .*DNS supplied by the VPN/m);
  assert.ok(text.endsWith('\n'));
  // Nothing that would send lookups elsewhere or change the search behaviour.
  assert.ok(!/^(search|domain) /m.test(text));
});

test('resolv.conf: one server', () => {
  assert.deepEqual(nameservers(renderResolvConf(['1.1.1.1'], 'x')), ['nameserver 1.1.1.1']);
});

const DEBIAN_RESOLVED = `# /etc/nsswitch.conf
#
# Example configuration of GNU Name Service Switch functionality.

passwd:         files systemd
group:          files systemd
shadow:         files
gshadow:        files

hosts: files mdns4_minimal [NOTFOUND=return] resolve [!UNAVAIL=return] dns myhostname
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
`;

/** The file without vpnns's header line. */
const body = (s: string) => {
  const lines = s.split('\n');
  assert.match(lines[0]!, /^# Written by vpnns/);
  return lines.slice(1);
};

test('nsswitch: hosts line becomes `files dns`, every other line kept in place', () => {
  const out = renderNsswitch(DEBIAN_RESOLVED);
  const inLines = DEBIAN_RESOLVED.split('\n');
  const outLines = body(out);
  assert.equal(outLines.length, inLines.length);
  for (let i = 0; i < inLines.length; i++) {
    if (inLines[i]!.startsWith('hosts:')) assert.equal(outLines[i], 'hosts: files dns');
    else assert.equal(outLines[i], inLines[i]);
  }
  assert.ok(!/resolve|mdns|myhostname/.test(out.split('\n').filter((l) => l.startsWith('hosts')).join()));
  assert.equal(out.split('\n').filter((l) => /^\s*hosts\s*:/.test(l)).length, 1);
});

test('nsswitch: indented hosts line and odd spacing are still replaced; a commented one is left', () => {
  const out = renderNsswitch('#hosts: files resolve\n  hosts :   files resolve myhostname\npasswd: files\n');
  assert.deepEqual(body(out), ['#hosts: files resolve', 'hosts: files dns', 'passwd: files', '']);
});

test('nsswitch: a hosts line is added when missing (with and without a final newline)', () => {
  assert.deepEqual(body(renderNsswitch('passwd: files\ngroup: files\n')), ['passwd: files', 'group: files', 'hosts: files dns', '']);
  assert.deepEqual(body(renderNsswitch('passwd: files\ngroup: files')), ['passwd: files', 'group: files', 'hosts: files dns', '']);
  assert.deepEqual(body(renderNsswitch('')), ['hosts: files dns', '']);
});

test('nsswitch: no host file gives a complete minimal one', () => {
  const out = renderNsswitch(undefined);
  const lines = body(out);
  assert.ok(lines.includes('hosts: files dns'));
  for (const db of ['passwd', 'group', 'shadow']) assert.ok(lines.some((l) => l.startsWith(`${db}:`)), db);
  assert.ok(out.endsWith('\n'));
});

test('nsswitch: rendering is stable (check() compares it with the written file)', () => {
  assert.equal(renderNsswitch(DEBIAN_RESOLVED), renderNsswitch(DEBIAN_RESOLVED));
});

test('effectiveDns: config > VPN > default', () => {
  assert.deepEqual(effectiveDns(['9.9.9.9'], ['10.8.0.1']).servers, ['9.9.9.9']);
  assert.match(effectiveDns(['9.9.9.9'], ['10.8.0.1']).source, /config/);
  assert.deepEqual(effectiveDns(undefined, ['10.8.0.1']).servers, ['10.8.0.1']);
  assert.match(effectiveDns(undefined, ['10.8.0.1']).source, /VPN/);
  assert.deepEqual(effectiveDns([], ['10.8.0.1']).servers, ['10.8.0.1']);
  assert.deepEqual(effectiveDns(undefined, undefined).servers, DEFAULT_DNS);
  assert.deepEqual(effectiveDns(undefined, []).servers, DEFAULT_DNS);
  assert.match(effectiveDns(undefined, undefined).source, /default/);
});

test('effectiveDns returns copies: callers cannot change the config or the default', () => {
  const cfg = ['9.9.9.9'];
  effectiveDns(cfg, undefined).servers.push('6.6.6.6');
  assert.deepEqual(cfg, ['9.9.9.9']);
  effectiveDns(undefined, undefined).servers.push('6.6.6.6');
  assert.deepEqual(DEFAULT_DNS, ['1.1.1.1']);
});
