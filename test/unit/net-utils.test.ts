import { test } from 'node:test';
import { isIPv6 as nodeIsIPv6 } from 'node:net';
import assert from 'node:assert/strict';
import {
  cidrHosts, cidrOverlaps, formatIPv4, ipv6Bytes, ipv6FromBytes, isIP, isIPv4, isIPv6, isLoopback, normalizeIp, parseCidr4, parseHostPort, parseIPv4,
} from '../../src/config/net-utils.js';

test('parseIPv4 / formatIPv4 round trip and reject malformed input', () => {
  assert.equal(parseIPv4('0.0.0.0'), 0);
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  assert.equal(parseIPv4('10.0.0.1'), 0x0a000001);
  assert.equal(formatIPv4(0xc0a80101), '192.168.1.1');
  assert.equal(formatIPv4(parseIPv4('203.0.113.254')!), '203.0.113.254');
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-1', '1.2.3.4 ', 'a.b.c.d', '1..2.3', '0x1.2.3.4']) {
    assert.equal(parseIPv4(bad), null, bad);
  }
});

test('isIPv6 answers as node:net does (zone ids aside), on edge cases and 20000 random strings', () => {
  const cases = [
    '::', '::1', '1::', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8',
    ':::', '1:::2', ':1::2', '1::2:', '1:2', '12345::', 'abcd::ABCD', '::ffff:1.2.3.4', '::1.2.3.4', '1:2:3:4:5:6:1.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4', '::ffff:01.2.3.4', '::ffff:256.1.1.1', '::ffff:1.2.3', '1.2.3.4::', '::1.2.3.4:1', 'g::', ' ::1', '::1 ',
  ];
  // A deterministic generator (no flaky seed): strings over the characters an address uses.
  let x = 42;
  const next = () => (x = (x * 1103515245 + 12345) % 2147483648);
  const alphabet = '0123456789abcdefABCDEFg:.';
  for (let i = 0; i < 20000; i++) {
    let s = '';
    const n = 1 + (next() % 24);
    for (let k = 0; k < n; k++) s += alphabet[next() % alphabet.length];
    cases.push(s);
  }
  // And address-shaped ones: 6 to 9 groups, a run of them compressed, a dotted tail, a slip.
  const hex = '0123456789abcdefABCDEF';
  for (let i = 0; i < 20000; i++) {
    const groups: string[] = [];
    const count = 6 + (next() % 4);
    for (let g = 0; g < count; g++) groups.push(Array.from({ length: 1 + (next() % (next() % 7 === 0 ? 5 : 4)) }, () => hex[next() % hex.length]).join(''));
    if (next() % 3 === 0) groups.splice(count - 2, 2, [0, 0, 0, 0].map(() => String(next() % (next() % 5 === 0 ? 300 : 256))).join('.'));
    let s = groups.join(':');
    if (next() % 2 === 0) {
      const from = next() % groups.length;
      const len = next() % (groups.length - from + 1);
      s = `${groups.slice(0, from).join(':')}::${groups.slice(from + len).join(':')}`;
    }
    if (next() % 5 === 0) {
      const at = next() % s.length;
      s = s.slice(0, at) + ':.0g'[next() % 4] + s.slice(at + 1);
    }
    cases.push(s);
  }
  let valid = 0;
  for (const s of cases) {
    assert.equal(isIPv6(s), nodeIsIPv6(s), JSON.stringify(s));
    if (nodeIsIPv6(s)) valid++;
  }
  // The generator must reach both answers often, or it proves little.
  assert.ok(valid > 3000, `${valid} valid addresses`);
});

test('isIPv4 / isIPv6 / isIP', () => {
  assert.ok(isIPv4('1.1.1.1'));
  assert.ok(!isIPv4('::1'));
  for (const v6 of ['::1', '::', '2001:db8::1', '::ffff:127.0.0.1', '2001:db8:0:0:0:0:0:1']) assert.ok(isIPv6(v6), v6);
  for (const bad of ['1.1.1.1', '2001:db8::1::2', 'fe80::1%eth0', '[::1]', 'gggg::1', '']) assert.ok(!isIPv6(bad), bad);
  assert.ok(isIP('1.1.1.1') && isIP('2606:4700:4700::1111'));
  assert.ok(!isIP('one.one.one.one'));
});

test('isIPv6: the same answers as Node\'s net.isIPv6 (zone ids aside), on addresses and near-misses', () => {
  // A fixed pseudo-random corpus: groups, dotted tails, one or two gaps, stray colons and dots.
  let seed = 15;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  const group = () => (rnd(10) === 0 ? '' : rnd(65536).toString(16).slice(0, 1 + rnd(4)));
  const dotted = () => [0, 0, 0, 0].map(() => String(rnd(10) === 0 ? rnd(400) : rnd(256))).join('.');
  const cases = ['::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1.2.3.4::', '::1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5::1.2.3.4', '1:2:3:4:5:6::1.2.3.4', '::01.2.3.4', ':', ':::', '1:::2', '1:2:3:4:5:6:7:8:9', '12345::', '::1.2.3', '1::2.3.4.5:6', 'ABCD::ef01'];
  for (let i = 0; i < 20000; i++) {
    const parts = Array.from({ length: rnd(10) }, group);
    if (rnd(3) === 0) parts.push(dotted());
    let t = parts.join(':');
    if (rnd(5) < 3) {
      const at = rnd(t.length + 1);
      t = `${t.slice(0, at)}${rnd(10) === 0 ? ':::' : '::'}${t.slice(at)}`;
    }
    cases.push(t);
  }
  let yes = 0;
  for (const c of cases) {
    assert.equal(isIPv6(c), nodeIsIPv6(c), JSON.stringify(c));
    if (nodeIsIPv6(c)) yes++;
  }
  assert.ok(yes > 1000, `the corpus has addresses too (${yes})`);
});

test('parseCidr4 clears host bits, keeps the address, treats a bare address as /32', () => {
  assert.deepEqual(parseCidr4('10.0.0.0/30'), { network: 0x0a000000, prefix: 30, address: 0x0a000000 });
  assert.deepEqual(parseCidr4('10.0.0.5/30'), { network: 0x0a000004, prefix: 30, address: 0x0a000005 });
  assert.deepEqual(parseCidr4('198.51.100.7'), { network: parseIPv4('198.51.100.7'), prefix: 32, address: parseIPv4('198.51.100.7') });
  assert.deepEqual(parseCidr4('0.0.0.0/0'), { network: 0, prefix: 0, address: 0 });
  assert.equal(parseCidr4('255.255.255.255/1')!.network, 0x80000000);
  for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/030', '10.0.0/24', '10.0.0.0/-1', '10.0.0.0/2a']) assert.equal(parseCidr4(bad), null, bad);
});

test('cidrHosts: host end = network+1, namespace end = network+2', () => {
  assert.deepEqual(cidrHosts('10.0.0.0/30'), { host: '10.0.0.1', ns: '10.0.0.2', prefix: 30, network: '10.0.0.0', broadcast: '10.0.0.3' });
  assert.deepEqual(cidrHosts('172.31.255.0/24'), { host: '172.31.255.1', ns: '172.31.255.2', prefix: 24, network: '172.31.255.0', broadcast: '172.31.255.255' });
  assert.equal(cidrHosts('10.9.8.7/29').network, '10.9.8.0');
  assert.throws(() => cidrHosts('10.0.0.0/31'), RangeError);
  assert.throws(() => cidrHosts('nope'), TypeError);
});

test('cidrOverlaps handles containment, disjoint ranges, single addresses and /0', () => {
  assert.ok(cidrOverlaps('10.0.0.0/30', '10.0.0.0/8'));
  assert.ok(cidrOverlaps('10.0.0.0/8', '10.0.0.0/30'));
  assert.ok(cidrOverlaps('10.0.0.0/30', '10.0.0.3'));
  assert.ok(!cidrOverlaps('10.0.0.0/30', '10.0.0.4'));
  assert.ok(!cidrOverlaps('10.0.0.0/30', '10.0.0.4/30'));
  assert.ok(cidrOverlaps('0.0.0.0/0', '203.0.113.9'));
  assert.ok(cidrOverlaps('1.2.3.4', '1.2.3.4/32'));
  assert.ok(!cidrOverlaps('192.168.0.0/16', '172.16.0.0/12'));
  assert.throws(() => cidrOverlaps('10.0.0.0/30', 'x'), TypeError);
});

test('parseHostPort handles v4, names, bracketed v6 and bad ports', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:8080'), { ok: true, host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseHostPort('vpn.example.com:443'), { ok: true, host: 'vpn.example.com', port: 443 });
  assert.deepEqual(parseHostPort('[::1]:9477'), { ok: true, host: '::1', port: 9477 });
  assert.deepEqual(parseHostPort('[2001:db8::1]:65535'), { ok: true, host: '2001:db8::1', port: 65535 });
  for (const bad of ['::1:80', '2001:db8::1:80', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', ':80', '[::1]', '[nothex]:80', '[::1]:', 'a:b', 'h:123456']) {
    assert.equal(parseHostPort(bad).ok, false, bad);
  }
});

test('parseHostPort: one grammar for every caller (names checked, no leading zero, a reason on failure)', () => {
  // What the three former parsers disagreed on, now one answer each.
  for (const bad of ['127.0.0.1:080', '[::::]:80', 'a b:80', '10.0.0.256:1', '[fe80::1%eth0]:80']) assert.equal(parseHostPort(bad).ok, false, bad);
  assert.deepEqual(parseHostPort('10.0.0.256:1'), { ok: false, detail: '"10.0.0.256" is neither an IP address nor a host name' });
  assert.deepEqual(parseHostPort('[::1]8080'), { ok: false, detail: '"[::1]8080" has no port; write "[::1]:PORT"' });
});

test('IPv6: one written form (as inet_ntop and `ip` write it), bytes both ways', () => {
  assert.equal(normalizeIp('2001:DB8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(normalizeIp('0:0:0:0:0:0:0:0'), '::');
  assert.equal(normalizeIp('::FFFF:7f00:1'), '::ffff:127.0.0.1');
  assert.equal(normalizeIp('198.51.100.1'), '198.51.100.1');
  assert.deepEqual(ipv6Bytes('2001:db8::ff'), [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]);
  assert.deepEqual(ipv6Bytes('::ffff:1.2.3.4')?.slice(10), [0xff, 0xff, 1, 2, 3, 4]);
  assert.equal(ipv6Bytes('1.2.3.4'), null);
  for (const a of ['2001:db8::1', '::', '::1', 'fe80::1:0:0:0', '2001:db8:0:1:1:1:1:1']) assert.equal(ipv6FromBytes(Uint8Array.from(ipv6Bytes(a)!)), a, a);
});

test('isLoopback: 127/8, ::1 in any spelling, v4-mapped, brackets', () => {
  for (const yes of ['127.0.0.1', '127.255.255.254', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::ffff:7f00:1']) assert.ok(isLoopback(yes), yes);
  for (const no of ['128.0.0.1', '10.0.0.1', '0.0.0.0', '::', '::2', '::ffff:10.0.0.1', '2001:db8::1', 'localhost', '']) assert.ok(!isLoopback(no), no);
});
