import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ifName, namesFor } from '../../src/core/names.js';
import { suggestSubnet } from '../../src/plan/preflight.js';
import type { Config } from '../../src/config/types.js';

const cfg = (namespace: string, subnet = '10.0.0.0/24') => ({ namespace, network: { subnet } }) as Pick<Config, 'namespace' | 'network'>;
const PREFIXES = ['vh-', 'vn-', 'vt-'];

test('ifName: at most 15 bytes for every namespace name up to 15 chars', () => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let len = 1; len <= 15; len++) {
    for (let k = 0; k < 5; k++) {
      let ns = '';
      for (let i = 0; i < len; i++) ns += alphabet[(i * 7 + k * 13 + len) % alphabet.length];
      for (const p of PREFIXES) {
        const n = ifName(p, ns);
        assert.ok(Buffer.byteLength(n) <= 15, `${n} (${Buffer.byteLength(n)} bytes) from ${ns}`);
        assert.ok(n.startsWith(p), n);
      }
    }
  }
});

test('ifName: short names are used as they are, long ones are stable', () => {
  assert.equal(ifName('vh-', 'vpn-ns'), 'vh-vpn-ns');
  assert.equal(ifName('vh-', 'abcdefghijkl'), 'vh-abcdefghijkl'); // exactly 15
  assert.equal(ifName('vh-', 'abcdefghijklmno'), ifName('vh-', 'abcdefghijklmno'));
  assert.notEqual(ifName('vh-', 'abcdefghijklm'), 'vh-abcdefghijklm');
});

test('ifName: two long names sharing a prefix stay distinct (and across prefixes)', () => {
  const names = ['work-vpn-berlin', 'work-vpn-bern', 'work-vpn-berlin2', 'work-vpn-bergen', 'work-vpn-1', 'work-vpn-2'];
  for (const p of PREFIXES) {
    const got = names.map((n) => ifName(p, n));
    assert.equal(new Set(got).size, names.length, got.join(' '));
  }
  // The three ends of one namespace never clash with each other.
  const n = namesFor(cfg('work-vpn-berlin'));
  assert.equal(new Set([n.vethHost, n.vethNs, n.tunnel]).size, 3);
});

test('names: addresses from /24 down to /30', () => {
  const cases: Array<[string, string, string, string, number]> = [
    ['10.0.0.0/24', '10.0.0.1', '10.0.0.2', '10.0.0.0/24', 24],
    ['10.0.0.77/24', '10.0.0.1', '10.0.0.2', '10.0.0.0/24', 24],
    ['10.200.0.0/28', '10.200.0.1', '10.200.0.2', '10.200.0.0/28', 28],
    ['10.200.0.4/30', '10.200.0.5', '10.200.0.6', '10.200.0.4/30', 30],
    ['172.31.255.252/30', '172.31.255.253', '172.31.255.254', '172.31.255.252/30', 30],
  ];
  for (const [subnet, host, ns, norm, prefix] of cases) {
    const n = namesFor(cfg('vpn-ns', subnet));
    assert.deepEqual([n.hostAddr, n.nsAddr, n.subnet, n.prefix], [host, ns, norm, prefix], subnet);
  }
  assert.throws(() => namesFor(cfg('vpn-ns', '10.0.0.0/31')));
});

test('names: the rest derives from the namespace name', () => {
  const n = namesFor(cfg('vpn-ns'));
  assert.equal(n.ns, 'vpn-ns');
  assert.equal(n.etcDir, '/etc/netns/vpn-ns');
  assert.equal(n.hostTable, 'vpnns-vpn-ns');
  assert.match(n.stateDir, /\/vpn-ns$/);
  assert.equal(n.lockFile, `${n.stateDir}.lock`);
  assert.deepEqual(namesFor(cfg('vpn-ns')), n);
});

test('suggestSubnet: first free /30 from 10.200.0.0, skipping used ranges', () => {
  assert.equal(suggestSubnet([]), '10.200.0.0/30');
  assert.equal(suggestSubnet([{ cidr: '10.200.0.1/32', what: 'x' }]), '10.200.0.4/30');
  assert.equal(suggestSubnet([{ cidr: '10.200.0.0/24', what: 'x' }, { cidr: '10.200.1.1/32', what: 'y' }]), '10.200.1.4/30');
  assert.equal(suggestSubnet([{ cidr: '10.0.0.0/8', what: 'x' }]), undefined);
  assert.equal(suggestSubnet([{ cidr: '10.200.0.0/16', what: 'x' }]), undefined);
  // Unrelated ranges change nothing.
  assert.equal(suggestSubnet([{ cidr: '192.168.1.0/24', what: 'x' }, { cidr: '10.0.0.0/24', what: 'y' }]), '10.200.0.0/30');
});

test('suggestSubnet: honours the prefix it is asked for', () => {
  assert.equal(suggestSubnet([], 24), '10.200.0.0/24');
  assert.equal(suggestSubnet([{ cidr: '10.200.0.9/32', what: 'x' }], 24), '10.200.1.0/24');
  assert.equal(suggestSubnet([{ cidr: '10.200.0.9/32', what: 'x' }], 28), '10.200.0.16/28');
});

test('root\'s paths and firewall identities never come from the environment (whoever set it would pick where root reads state)', async () => {
  const { execFileSync } = await import('node:child_process');
  const here = new URL('../../src/', import.meta.url).href;
  const script = `const n = await import(${JSON.stringify(here + 'core/names.js')}); const p = await import(${JSON.stringify(here + 'vpn/provider.js')});
    const l = await import(${JSON.stringify(here + 'config/paths.js')});
    console.log(JSON.stringify([n.RUN_DIR, p.CLIENT_GID, p.CLIENT_MARK, l.LIB_DIR]));`;
  const env = { ...process.env, VPNNS_RUN_DIR: '/tmp/evil', VPNNS_CLIENT_GID: '1000', VPNNS_CLIENT_MARK: '1', VPNNS_STATE_ROOT: '/tmp/evil', VPNNS_LIB_DIR: '/tmp/evil' };
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), ['/run/vpnns', 51820, 51820, '/var/lib/vpnns']);
});
