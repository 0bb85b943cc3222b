// The nftables rulesets: the kill switch inside the namespace and the host table (NAT, forward).
// Text is checked for what would leak, then nft itself parses and validates it (`nft -c`) inside a
// throwaway namespace, so a syntax nft rejects is caught here and not on a user's machine.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hasSender, killSwitchResource, renderClientRule, renderKillSwitch, type KillSwitchSpec } from '../../src/firewall/killswitch.js';
import type { ClientTraffic } from '../../src/core/client-traffic.js';
import { renderHostTable, needsRouteLocalnet, type HostAccess } from '../../src/firewall/host-table.js';
import { hostAccessUids, invokerUidFromEnv, loopbackPublications } from '../../src/firewall/host-access.js';
import { q, replaceTableScript } from '../../src/firewall/nft.js';
import { renderForwardAccepts } from '../../src/firewall/forward-compat.js';
import { namesFor } from '../../src/core/names.js';
import { System } from '../../src/sys/system.js';
import type { Config } from '../../src/config/types.js';
import type { Context } from '../../src/core/resource.js';
import { assertGolden } from './golden.js';

const names = namesFor({ namespace: 'vpn-ns', network: { subnet: '10.0.0.0/24' } } as Pick<Config, 'namespace' | 'network'>);

const ENDPOINTS: ClientTraffic[] = [
  { kind: 'endpoint', ip: '198.51.100.7', port: 51820, proto: 'udp', sender: { mark: 51820 } },
  { kind: 'endpoint', ip: '203.0.113.9', port: 443, proto: 'tcp', sender: { mark: 51820 } },
  { kind: 'endpoint', ip: '2001:db8::7', port: 1194, proto: 'udp', sender: { gid: 51820 } },
];

/** What only the client's sockets have: its fwmark, or uid 0 with its own group. */
const SENDER = '(meta mark \\d+|meta skuid 0 meta skgid \\d+)';

function spec(client: ClientTraffic[], over: Partial<KillSwitchSpec> = {}): KillSwitchSpec {
  return { table: names.nsTable, vethNs: names.vethNs, hostAddr: names.hostAddr, tunnel: names.tunnel, client, ...over };
}

/** Lines of one chain (between `chain NAME {` and its `}`), trimmed, without the type line. */
function chainRules(ruleset: string, chain: string): string[] {
  const m = new RegExp(`chain ${chain} \\{\\n([\\s\\S]*?)\\n\\t\\}`).exec(ruleset);
  assert.ok(m, `no chain ${chain} in:\n${ruleset}`);
  return m[1]!
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Every rule line of every chain (type/policy lines excluded). */
function allRules(ruleset: string): string[] {
  return ruleset
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /\b(accept|drop|reject|masquerade)\b/.test(l) && !l.startsWith('type '));
}

function assertCommentLast(ruleset: string): void {
  for (const line of ruleset.split('\n').map((l) => l.trim())) {
    const i = line.indexOf(' comment "');
    if (i < 0) continue;
    // nft rejects anything after the comment, so the comment string must close the line.
    assert.match(line.slice(i), /^ comment "[^"]*"$/, `comment is not last in: ${line}`);
  }
}

/** A port match with no address match in the same rule would let anything out on that port. */
function assertNoBarePortAccept(ruleset: string): void {
  for (const rule of allRules(ruleset)) {
    if (!/\bdport\b|\bsport\b/.test(rule) || !/\baccept\b/.test(rule)) continue;
    assert.match(rule, /\b(ip|ip6) (daddr|saddr) \S+/, `accepts a port without an address: ${rule}`);
  }
}

describe('kill switch', () => {
  const rs = renderKillSwitch(spec(ENDPOINTS));
  const out = chainRules(rs, 'output');

  test('output: policy drop, loopback and tunnel accepted first', () => {
    assert.equal(out[0], 'type filter hook output priority filter; policy drop;');
    assert.equal(out[1], 'oifname "lo" accept');
    assert.match(out[2]!, new RegExp(`^oifname "${names.tunnel}" accept\\b`));
  });

  test('veth: only established/related to the host address', () => {
    const veth = out.filter((l) => l.startsWith(`oifname "${names.vethNs}"`));
    const toHost = veth.filter((l) => l.includes(`daddr ${names.hostAddr}`));
    assert.equal(toHost.length, 1);
    assert.match(toHost[0]!, new RegExp(`^oifname "${names.vethNs}" ip daddr ${names.hostAddr.replaceAll('.', '\\.')} ct state established,related accept`));
    // Every other veth accept is a client rule: who sent it AND address + protocol + port, nothing
    // broader (a destination alone let any process inside reach the server outside the tunnel).
    for (const l of veth.filter((x) => x !== toHost[0])) {
      assert.match(l, new RegExp(`^oifname "[^"]+" ${SENDER} ip6? daddr \\S+ (udp|tcp) dport \\d+ accept comment "VPN client \\([^)]+\\) to its server"$`));
    }
    // No accept on the veth that matches only the interface.
    assert.ok(!veth.some((l) => /^oifname "[^"]+" accept/.test(l)), 'the veth is accepted wholesale');
  });

  test('one exact rule per client endpoint, its sender AND its address, ip6 for v6', () => {
    const v = `oifname "${names.vethNs}"`;
    assert.equal(out.filter((l) => l.includes('to its server')).length, ENDPOINTS.length);
    assert.ok(out.includes(`${v} meta mark 51820 ip daddr 198.51.100.7 udp dport 51820 accept comment "VPN client (its fwmark) to its server"`));
    assert.ok(out.includes(`${v} meta mark 51820 ip daddr 203.0.113.9 tcp dport 443 accept comment "VPN client (its fwmark) to its server"`));
    assert.ok(out.includes(`${v} meta skuid 0 meta skgid 51820 ip6 daddr 2001:db8::7 udp dport 1194 accept comment "VPN client (root, its own group) to its server"`));
  });

  test('no veth accept by destination alone, for every client kind', () => {
    const kinds: ClientTraffic[][] = [ENDPOINTS, [{ kind: 'gid', gid: 51820 }], [{ kind: 'mark', mark: 20816 }]];
    for (const client of kinds) {
      for (const l of chainRules(renderKillSwitch(spec(client)), 'output')) {
        if (!l.startsWith(`oifname "${names.vethNs}"`) || l.includes(`daddr ${names.hostAddr} ct state established,related`)) continue;
        assert.match(l, new RegExp(`^oifname "[^"]+" ${SENDER}`), `accepts without naming the sender: ${l}`);
      }
    }
  });

  test('a mark or group of 0 (every unmarked packet, root\'s group) or not an integer is refused', () => {
    for (const bad of [{ kind: 'mark', mark: 0 }, { kind: 'gid', gid: 0 }, { kind: 'mark', mark: 1.5 }, { kind: 'mark', mark: 2 ** 32 }] as ClientTraffic[]) {
      assert.throws(() => renderClientRule('vn-x', bad), /refusing/, JSON.stringify(bad));
    }
    assert.throws(() => renderClientRule('vn-x', { ...ENDPOINTS[0]!, sender: { mark: 0 } } as ClientTraffic), /refusing/);
  });

  test('state from before senders were recorded is recognised as needing a new prepare', () => {
    assert.equal(hasSender(ENDPOINTS[0]!), true);
    assert.equal(hasSender({ kind: 'gid', gid: 51820 }), true);
    assert.equal(hasSender({ kind: 'endpoint', ip: '198.51.100.7', port: 51820, proto: 'udp' } as unknown as ClientTraffic), false);
  });

  test('client rules come before the final reject', () => {
    const firstClient = out.findIndex((l) => l.includes('VPN client'));
    const reject = out.findIndex((l) => l.includes('reject'));
    assert.ok(firstClient > 0 && firstClient < reject);
  });

  test('group and fwmark rules', () => {
    // The group alone would also be a setgid file's; uid 0 with it is only the client vpnns launched.
    assert.equal(renderClientRule('vn-x', { kind: 'gid', gid: 51820 }), 'oifname "vn-x" meta skuid 0 meta skgid 51820 accept comment "VPN client (root, its own group)"');
    assert.equal(renderClientRule('vn-x', { kind: 'mark', mark: 20816 }), 'oifname "vn-x" meta mark 20816 accept comment "VPN client (its fwmark)"');
  });

  test('the last rule rejects with admin-prohibited and counts into the named counter', () => {
    assert.match(out.at(-1)!, /^counter name "blocked" reject with icmpx admin-prohibited( comment "[^"]*")?$/);
    assert.match(rs, /\tcounter blocked \{/);
  });

  test('input: policy drop, host only from its address; forward drops everything', () => {
    const input = chainRules(rs, 'input');
    assert.equal(input[0], 'type filter hook input priority filter; policy drop;');
    assert.ok(input.some((l) => l.startsWith(`iifname "${names.vethNs}" ip saddr ${names.hostAddr} accept`)));
    assert.deepEqual(chainRules(rs, 'forward'), ['type filter hook forward priority filter; policy drop;']);
  });

  test('comment is last, no bare port accept (all client kinds)', () => {
    for (const r of [rs, renderKillSwitch(spec([{ kind: 'gid', gid: 51820 }])), renderKillSwitch(spec([{ kind: 'mark', mark: 1 }]))]) {
      assertCommentLast(r);
      assertNoBarePortAccept(r);
    }
  });

  test('no client at all: still a closed ruleset', () => {
    const r = renderKillSwitch(spec([]));
    assert.ok(!r.includes('VPN client'));
    assert.match(r, /policy drop;/);
  });

  test('interface names: trailing * accepted, quotes and spaces refused', () => {
    assert.equal(q('tun*'), '"tun*"');
    assert.equal(q('vn-vpn-ns'), '"vn-vpn-ns"');
    assert.match(renderKillSwitch(spec([], { tunnel: 'tun*' })), /oifname "tun\*" accept/);
    for (const bad of ['a"b', 'a b', 'eth0"; flush ruleset; "', '', 'a*b', '*', 'a\nb']) {
      assert.throws(() => q(bad), /refusing to put/, JSON.stringify(bad));
    }
    assert.throws(() => renderKillSwitch(spec([], { vethNs: 'vn x' })));
    assert.throws(() => renderKillSwitch(spec([], { tunnel: 'tun"0' })));
  });

  test('the proxies (their uid) are refused loopback, before loopback is accepted; their replies pass', () => {
    const r = chainRules(renderKillSwitch(spec(ENDPOINTS, { proxies: { uid: 65534 } })), 'output');
    const lo = r.indexOf('oifname "lo" accept');
    const refused = r.filter((l) => l.includes('the proxies never reach'));
    assert.deepEqual(refused, [
      `oifname "lo" meta skuid 65534 ct direction original reject with icmpx admin-prohibited comment "the proxies never reach the namespace's own addresses"`,
    ]);
    assert.ok(refused.every((l) => r.indexOf(l) < lo));
    // On the veth they have no rule of their own: only replies to the host pass for anyone but the client.
    assert.ok(!r.some((l) => l.startsWith(`oifname "${names.vethNs}"`) && /skuid 65534/.test(l)));
    assert.throws(() => renderKillSwitch(spec([], { proxies: { uid: 0 } })), /refusing/);
  });

  test('golden: endpoints', () => assertGolden('killswitch-endpoint.nft', rs));
  test('golden: with the proxies', () => assertGolden('killswitch-proxies.nft', renderKillSwitch(spec(ENDPOINTS.slice(0, 1), { proxies: { uid: 65534 } }))));
  test('golden: gid', () => assertGolden('killswitch-gid.nft', renderKillSwitch(spec([{ kind: 'gid', gid: 51820 }], { tunnel: 'tun*' }))));
});

describe('host table', () => {
  const rs = renderHostTable(names);

  test('masquerade only the subnet and never back out of the veth', () => {
    const post = chainRules(rs, 'postrouting');
    assert.equal(post[0], 'type nat hook postrouting priority srcnat; policy accept;');
    assert.deepEqual(post.slice(1), [`ip saddr 10.0.0.0/24 oifname != "${names.vethHost}" masquerade`]);
  });

  test('forward: out only from the namespace address, replies in, no new connections in', () => {
    const fwd = chainRules(rs, 'forward').slice(1);
    const v = `"${names.vethHost}"`;
    const i = (re: RegExp) => fwd.findIndex((l) => re.test(l));
    const out = i(new RegExp(`^iifname ${v} ip saddr 10\\.0\\.0\\.2 accept`));
    const spoof = i(new RegExp(`^iifname ${v} drop`));
    const replies = i(new RegExp(`^oifname ${v} ct state established,related accept`));
    const noNew = i(new RegExp(`^oifname ${v} drop`));
    assert.ok(out >= 0 && spoof > out, 'namespace address accepted, then everything else from the veth dropped');
    assert.ok(replies >= 0 && noNew > replies, 'replies accepted, then everything else into the veth dropped');
    assert.equal(fwd.length, 4, 'no other forward rules');
    // Only the namespace address: the host end of the veth or the whole subnet must not appear as a source.
    assert.ok(!fwd.some((l) => l.includes(`saddr ${names.subnet}`) || l.includes(`saddr ${names.hostAddr}`)));
  });

  test('comment last, no bare port accept', () => {
    assertCommentLast(rs);
    assertNoBarePortAccept(rs);
  });

  test('refuses an interface name nft would misparse', () => {
    assert.throws(() => renderHostTable({ ...names, vethHost: 'vh "x' }), /refusing/);
  });

  test('golden', () => assertGolden('host-table.nft', rs));
});

describe('host table with ports published via the kernel', () => {
  const pub = (host: string, port: number, target: number, origin: string) => ({ listen: { host, port }, target: { host: names.nsAddr, port: target }, origin });
  const loopbackOnly = [pub('127.0.0.1', 9000, 3000, 'publish[0]')];
  const withLan = [...loopbackOnly, pub('198.51.100.20', 9001, 3000, 'publish[1]'), pub('0.0.0.0', 9002, 3002, 'apps.web.publish[0]')];
  const v = `"${names.vethHost}"`;

  test('loopback only: DNAT in output, masquerade into the veth, the input guard; nothing from outside', () => {
    const rs = renderHostTable(names, loopbackOnly);
    assert.deepEqual(chainRules(rs, 'publish_local').slice(1), [`ip daddr 127.0.0.1 tcp dport 9000 dnat ip to ${names.nsAddr}:3000 comment "publish[0]"`]);
    assert.ok(!rs.includes('chain publish_in'), 'no prerouting DNAT: other machines reach nothing');
    assert.ok(!chainRules(rs, 'forward').some((l) => l.includes('ct status dnat')), 'no forwarding of outside connections');
    assert.ok(chainRules(rs, 'postrouting').includes(`oifname ${v} ct status dnat masquerade comment "published ports arrive from the host's end, as through a forwarder"`));
    assert.match(chainRules(rs, 'input').join('\n'), new RegExp(`iifname ${v} ip daddr 127\\.0\\.0\\.0/8 ct direction original counter drop`));
    assert.equal(needsRouteLocalnet(loopbackOnly), true);
  });

  test('a LAN bind and 0.0.0.0: prerouting DNAT (never from the namespace itself) and forwarding of DNATed connections only', () => {
    const rs = renderHostTable(names, withLan);
    const pre = chainRules(rs, 'publish_in').slice(1);
    assert.equal(pre[0], `iifname ${v} return comment "the namespace never reaches published ports through the host"`);
    assert.deepEqual(pre.slice(1), [
      `ip daddr 198.51.100.20 tcp dport 9001 dnat ip to ${names.nsAddr}:3000 comment "publish[1]"`,
      `fib daddr type local tcp dport 9002 dnat ip to ${names.nsAddr}:3002 comment "apps.web.publish[0]"`,
    ]);
    const fwd = chainRules(rs, 'forward').slice(1);
    const dnat = fwd.indexOf(`oifname ${v} ip daddr ${names.nsAddr} ct status dnat accept comment "published ports (via: kernel)"`);
    assert.ok(dnat >= 0 && dnat < fwd.findIndex((l) => l.startsWith(`oifname ${v} drop`)), 'before the drop of new connections');
    assertCommentLast(rs);
    assertNoBarePortAccept(rs);
  });

  test('a LAN address alone does not turn route_localnet on', () => {
    assert.equal(needsRouteLocalnet([pub('198.51.100.20', 9001, 3000, 'publish[0]')]), false);
    assert.ok(!renderHostTable(names, [pub('198.51.100.20', 9001, 3000, 'publish[0]')]).includes('chain input'));
  });

  test('comments carry only safe characters', () => {
    assert.match(renderHostTable(names, [pub('127.0.0.1', 1, 2, 'apps.a"b;c.publish[0]')]), /comment "apps\.a_b_c\.publish\[0\]"/);
  });

  test('golden', () => assertGolden('host-table-kernel-publish.nft', renderHostTable(names, withLan)));
});

const ACCESS: HostAccess = { uids: [1000, 0], loopback: [{ host: '127.0.0.1', port: 1080 }, { host: '::1', port: 8080 }] };

describe('host table: who on the host reaches into the namespace and loopback publications', () => {
  const out = chainRules(renderHostTable(names, [], ACCESS), 'output');
  const v = `"${names.vethHost}"`;

  test('into the veth: replies, then root and the invoker, then reject', () => {
    // Before NAT: a kernel publication is matched as 127.0.0.1:PORT, not by its DNATed address.
    assert.equal(out[0], 'type filter hook output priority -150; policy accept;');
    assert.equal(out[1], `oifname ${v} ct state established,related accept`);
    assert.match(out[2]!, new RegExp(`^oifname ${v} meta skuid \\{ 0, 1000 \\} accept`));
    assert.match(out[3]!, new RegExp(`^oifname ${v} reject with icmpx admin-prohibited`));
  });

  test('a loopback publication refuses new connections of other users (v4 and v6)', () => {
    assert.ok(out.includes(`oifname "lo" ip daddr 127.0.0.1 tcp dport 1080 ct state new meta skuid != { 0, 1000 } reject with tcp reset comment "published on loopback: root and the invoking user only"`));
    assert.ok(out.includes(`oifname "lo" ip6 daddr ::1 tcp dport 8080 ct state new meta skuid != { 0, 1000 } reject with tcp reset comment "published on loopback: root and the invoking user only"`));
  });

  test('without an invoker, root only; bad uids and non-loopback addresses refused', () => {
    assert.match(renderHostTable(names), /meta skuid \{ 0 \} accept/);
    assert.throws(() => renderHostTable(names, [], { uids: [-1], loopback: [] }), /refusing/);
    assert.throws(() => renderHostTable(names, [], { uids: [0], loopback: [{ host: '198.51.100.20', port: 80 }] }), /refusing/);
    assertCommentLast(renderHostTable(names, [], ACCESS));
  });

  test('the invoker: SUDO_UID, PKEXEC_UID, SUDO_USER/DOAS_USER by name; never root; else the recorded one', () => {
    const lookup = (n: string) => (n === 'alice' ? { name: 'alice', uid: 1001, gid: 1001, home: '/home/alice', shell: '/bin/sh' } : n === 'root' ? { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' } : undefined);
    assert.equal(invokerUidFromEnv({ SUDO_UID: '1000' }, lookup), 1000);
    assert.equal(invokerUidFromEnv({ SUDO_UID: '0' }, lookup), undefined);
    assert.equal(invokerUidFromEnv({ SUDO_UID: '1000; x' }, lookup), undefined);
    assert.equal(invokerUidFromEnv({ PKEXEC_UID: '1002' }, lookup), 1002);
    assert.equal(invokerUidFromEnv({ SUDO_USER: 'alice' }, lookup), 1001);
    assert.equal(invokerUidFromEnv({ DOAS_USER: 'root' }, lookup), undefined);
    assert.deepEqual(hostAccessUids({ apps: {} }, undefined, {}, lookup), [0]);
    assert.deepEqual(hostAccessUids({ apps: {} }, 1005, {}, lookup), [0, 1005]);
    assert.deepEqual(hostAccessUids({ apps: {} }, 1005, { SUDO_UID: '1000' }, lookup), [0, 1000]);
    assert.deepEqual(hostAccessUids({ apps: { web: { user: 'alice' } } } as unknown as Pick<Config, 'apps'>, undefined, {}, lookup), [0, 1001]);
  });

  test('loopback publications: publish entries, apps, published proxies; not LAN-bound ones', () => {
    const cfg = {
      vpn: { type: 'wireguard' },
      proxies: { socks: { enabled: true, port: 1080, publish: true }, http: { enabled: true, port: 1090, publish: false } },
      publish: [{ port: 9000 }, { host: '198.51.100.20:9001', target: 3000 }, { host: '0.0.0.0:9002', target: 3002 }],
      apps: { web: { publish: [{ host: '127.0.0.1:8080', target: 8080 }] } },
    } as unknown as Config;
    assert.deepEqual(loopbackPublications(cfg, names), [
      { host: '127.0.0.1', port: 9000 },
      { host: '127.0.0.1', port: 8080 },
      { host: '127.0.0.1', port: 1080 },
    ]);
  });

  test('golden', () => assertGolden('host-table-access.nft', renderHostTable(names, [], ACCESS)));
});

describe('forward-compat rules', () => {
  test('argv tokens: accept out of the veth, only replies into it, tagged', () => {
    assert.deepEqual(renderForwardAccepts('vh-vpn-ns', 'vpn-ns'), [
      ['iifname', '"vh-vpn-ns"', 'accept', 'comment', '"vpnns:vpn-ns"'],
      ['oifname', '"vh-vpn-ns"', 'ct', 'state', 'established,related', 'accept', 'comment', '"vpnns:vpn-ns"'],
    ]);
    for (const rule of renderForwardAccepts('vh-vpn-ns', 'vpn-ns')) assert.equal(rule.at(-2), 'comment');
  });
});

// --- nft itself, in a namespace of our own -------------------------------------------------------

const NS = `vpnnsut-${randomBytes(4).toString('hex')}`;
const isRoot = process.getuid?.() === 0;
const hasNft = spawnSync('nft', ['--version']).status === 0;
const skip = !isRoot || !hasNft ? 'needs root and nft' : false;
let dir = '';
let nsMade = false;

function sh(argv: string[], input?: string): { code: number; out: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8' });
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

function nftCheck(name: string, text: string): void {
  const file = join(dir, name);
  writeFileSync(file, text);
  const r = sh(['ip', 'netns', 'exec', NS, 'nft', '-c', '-f', file]);
  assert.equal(r.code, 0, `nft -c rejected ${name}:\n${r.out}\n--- ruleset ---\n${text}`);
}

describe('nft accepts the rendered rulesets', { skip }, () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vpnnsut-nft-'));
    const r = sh(['ip', 'netns', 'add', NS]);
    assert.equal(r.code, 0, r.out);
    nsMade = true;
  });
  after(() => {
    if (nsMade) sh(['ip', 'netns', 'delete', NS]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('kill switch with endpoints (v4 and v6, udp and tcp)', () => nftCheck('ks-endpoint.nft', renderKillSwitch(spec(ENDPOINTS))));
  test('kill switch with gid and a wildcard tunnel', () => nftCheck('ks-gid.nft', renderKillSwitch(spec([{ kind: 'gid', gid: 51820 }], { tunnel: 'tun*' }))));
  test('kill switch with fwmark', () => nftCheck('ks-mark.nft', renderKillSwitch(spec([{ kind: 'mark', mark: 20816 }]))));
  test('kill switch with no client rules', () => nftCheck('ks-none.nft', renderKillSwitch(spec([]))));
  test('kill switch with the proxies refused loopback', () => nftCheck('ks-proxies.nft', renderKillSwitch(spec(ENDPOINTS, { proxies: { uid: 65534 } }))));
  test('host table with access rules (uids, v4 and v6 loopback publications)', () => nftCheck('host-access.nft', renderHostTable(names, [], ACCESS)));
  test('host table', () => nftCheck('host.nft', renderHostTable(names)));
  test('host table with kernel-published ports (loopback, LAN address, 0.0.0.0)', () =>
    nftCheck('host-pub.nft', renderHostTable(names, [
      { listen: { host: '127.0.0.1', port: 9000 }, target: { host: names.nsAddr, port: 3000 }, origin: 'publish[0]' },
      { listen: { host: '198.51.100.20', port: 9001 }, target: { host: names.nsAddr, port: 3000 }, origin: 'publish[1]' },
      { listen: { host: '0.0.0.0', port: 9002 }, target: { host: names.nsAddr, port: 3002 }, origin: 'publish[2]' },
    ])));
  test('host table, /30 and a long namespace name (15 characters, the longest allowed)', () => {
    const n = namesFor({ namespace: 'a-long-namespac', network: { subnet: '10.200.0.4/30' } } as Pick<Config, 'namespace' | 'network'>);
    nftCheck('host30.nft', renderHostTable(n));
  });
  test('the atomic replace script (table may not exist yet)', () => {
    nftCheck('replace-ks.nft', replaceTableScript('inet', names.nsTable, renderKillSwitch(spec(ENDPOINTS))));
    nftCheck('replace-host.nft', replaceTableScript('inet', names.hostTable, renderHostTable(names)));
  });

  // Loaded for real, in our throwaway namespace only: `check` must recognise what nft prints back,
  // or every `up` reloads the kill switch and `status` reports it missing.
  test('killSwitchResource.check recognises the loaded table for every client kind', async () => {
    const kinds: ClientTraffic[][] = [ENDPOINTS, [{ kind: 'gid', gid: 51820 }], [{ kind: 'mark', mark: 20816 }], [{ kind: 'mark', mark: 1 }]];
    for (const client of kinds) {
      const ctx = {
        sys: new System(false),
        names: { ...names, ns: NS },
        state: { runtime: { clientTraffic: client } },
      } as unknown as Context;
      await killSwitchResource.apply(ctx);
      // A kill switch loaded before the proxies' rules existed is reloaded.
      const listed = sh(['ip', 'netns', 'exec', NS, 'nft', 'list', 'table', 'inet', names.nsTable]).out;
      assert.match(listed, /meta skuid 65534 ct direction original reject/);
      assert.equal(await killSwitchResource.check(ctx), true, `check() after apply() with ${JSON.stringify(client)}:\n${sh(['ip', 'netns', 'exec', NS, 'nft', 'list', 'table', 'inet', names.nsTable]).out}`);
      // A changed endpoint must make check() say no, so `up` reloads it.
      const changed = { ...ctx, state: { runtime: { clientTraffic: [{ kind: 'endpoint', ip: '198.51.100.99', port: 1, proto: 'udp', sender: { mark: 51820 } }] } } } as unknown as Context;
      assert.equal(await killSwitchResource.check(changed), false);
      // An endpoint recorded without its sender (older state) is never taken as loaded.
      const legacy = { ...ctx, state: { runtime: { clientTraffic: [{ kind: 'endpoint', ip: '198.51.100.7', port: 51820, proto: 'udp' }] } } } as unknown as Context;
      assert.equal(await killSwitchResource.check(legacy), false);
    }
    assert.equal(await killSwitchResource.remove({ sys: new System(false), names: { ...names, ns: NS } } as unknown as Context), true);
  });
});
