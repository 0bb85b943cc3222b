import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluateApps, evaluateDns, evaluateDrill, evaluateEgress, evaluateIpv6, evaluateNamespace, evaluateProxy, evaluatePublished, evaluateTunnel,
  exitCodeFor, leakedPackets, parseCaptureLine, renderChecks, agreedEgress,
  type Check, type DnsEvidence, type DrillEvidence, type ResolverProbe,
} from '../../src/checks/evaluate.js';
import { parseEcho } from '../../src/config/net-utils.js';
import { buildQuery, parseResponse } from '../../src/net/dns-wire.js';
import { expandWhoami } from '../../src/checks/dns-probe.js';
import { curlProxyUserConfig, nameservers, replyPorts } from '../../src/checks/gather.js';
import { defaultConfig, parseConfig } from '../../src/config/load.js';

const VPN = '198.51.100.10';
const HOST = '203.0.113.10';

test('parseEcho: text, JSON with ip, IPv4-mapped, IPv6 normalised, garbage refused', () => {
  assert.deepEqual(parseEcho('198.51.100.10\n'), { ip: VPN });
  assert.deepEqual(parseEcho('{"ip":"198.51.100.10","country":"X"}'), { ip: VPN });
  assert.deepEqual(parseEcho('::ffff:198.51.100.10'), { ip: VPN });
  assert.deepEqual(parseEcho('2001:DB8:0:0:0:0:0:10'), { ip: '2001:db8::10' });
  assert.match(parseEcho('<html>hello</html>').error!, /not an IP address: "<html>hello<\/html>"/);
  assert.match(parseEcho('{"origin":"1.2.3.4"}').error!, /not an IP address/);
});

test('egress: pass when inside and host differ and the URLs agree', () => {
  const c = evaluateEgress({
    inside: [{ url: 'a', ip: VPN }, { url: 'b', ip: VPN }],
    host: [{ url: 'a', ip: HOST }, { url: 'b', ip: HOST }],
    hostAddresses: [HOST],
  });
  assert.equal(c.result, 'pass');
  assert.equal(c.reason, `inside leaves as ${VPN}, the host as ${HOST} (2 URLs agree)`);
  assert.deepEqual(c.evidence.inside, [VPN]);
  assert.deepEqual(c.evidence.host, [HOST]);
});

test('egress: inside equal to the host egress, or to a host address, is a leak', () => {
  assert.equal(evaluateEgress({ inside: [{ url: 'a', ip: HOST }], host: [{ url: 'a', ip: HOST }], hostAddresses: [] }).result, 'leak');
  // The host could not be measured, but the address is the host's own: still a leak.
  const c = evaluateEgress({ inside: [{ url: 'a', ip: HOST }], host: [{ url: 'a', error: 'timeout' }], hostAddresses: [HOST] });
  assert.equal(c.result, 'leak');
  assert.match(c.reason, /203\.0\.113\.10 is the host's own egress/);
});

test('egress: disagreement, no answer inside, or no host measurement fail with the evidence', () => {
  const dis = evaluateEgress({ inside: [{ url: 'a', ip: VPN }, { url: 'b', ip: '198.51.100.99' }], host: [{ url: 'a', ip: HOST }], hostAddresses: [] });
  assert.equal(dis.result, 'fail');
  assert.match(dis.reason, /disagree.*198\.51\.100\.10 vs 198\.51\.100\.99/);
  const none = evaluateEgress({ inside: [{ url: 'a', error: 'Could not resolve host: a' }], host: [{ url: 'a', ip: HOST }], hostAddresses: [] });
  assert.equal(none.result, 'fail');
  assert.match(none.reason, /no echo URL answered from inside \(Could not resolve host: a\)/);
  const noHost = evaluateEgress({ inside: [{ url: 'a', ip: VPN }], host: [{ url: 'a', error: 'timeout' }], hostAddresses: [] });
  assert.equal(noHost.result, 'fail');
  assert.match(noHost.reason, /host's egress could not be measured/);
  const hostDis = evaluateEgress({ inside: [{ url: 'a', ip: VPN }], host: [{ url: 'a', ip: HOST }, { url: 'b', ip: '203.0.113.11' }], hostAddresses: [] });
  assert.equal(hostDis.result, 'fail');
  // One URL down is noted, not a failure.
  const partial = evaluateEgress({ inside: [{ url: 'a', ip: VPN }, { url: 'b', error: 'x' }], host: [{ url: 'a', ip: HOST }], hostAddresses: [] });
  assert.equal(partial.result, 'pass');
  assert.match(partial.reason, /1 of 2 URLs did not answer/);
  assert.equal(agreedEgress([{ url: 'a', ip: VPN }, { url: 'b', ip: VPN }]), VPN);
  assert.equal(agreedEgress([{ url: 'a', ip: VPN }, { url: 'b', ip: HOST }]), undefined);
});

const vpnResolver: ResolverProbe = { server: '10.66.0.1', dev: 'vt0', txt: ['vpn'], a: ['10.66.0.1'], rcode: 'NOERROR' };
const ispResolver: ResolverProbe = { server: '198.51.100.53', txt: ['isp'], a: ['198.51.100.53'], rcode: 'NOERROR' };
const dns = (over: Partial<DnsEvidence>): DnsEvidence => ({
  whoami: 'whoami.example.test',
  tunnel: 'vt0',
  inside: [vpnResolver],
  getent: { addresses: ['10.66.0.1'] },
  host: [ispResolver],
  killSwitchLoaded: true,
  ...over,
});

test('dns: the VPN resolver inside and the ISP resolver on the host pass, with both identities', () => {
  const c = evaluateDns(dns({}));
  assert.equal(c.result, 'pass');
  assert.equal(c.reason, "resolvers seen inside: vpn, 10.66.0.1; the host's: isp, 198.51.100.53");
  assert.deepEqual(c.evidence.resolversInside, ['10.66.0.1 via vt0: vpn, 10.66.0.1']);
});

test('dns: a resolver inside that answers as the host\'s resolver is a leak, even through the tunnel', () => {
  const c = evaluateDns(dns({ inside: [{ ...ispResolver, dev: 'vt0' }], getent: { addresses: ['198.51.100.53'] }, killSwitchLoaded: false }));
  assert.equal(c.result, 'leak');
  assert.match(c.reason, /198\.51\.100\.53 answers as the host's resolver \(isp, 198\.51\.100\.53\)/);
});

test('dns: getent reaching the host\'s resolver (an nsswitch escape) is a leak', () => {
  const c = evaluateDns(dns({ getent: { addresses: ['198.51.100.53'] } }));
  assert.equal(c.result, 'leak');
  assert.match(c.reason, /getent/);
});

test('dns: a resolver routed outside the tunnel is a leak when it answers, and when no kill switch stops it', () => {
  const answered = evaluateDns(dns({ inside: [{ ...vpnResolver, dev: 'vn0' }] }));
  assert.equal(answered.result, 'leak');
  assert.match(answered.reason, /routed outside the tunnel \(via vn0\)/);
  const silent: ResolverProbe = { server: '10.66.0.1', dev: 'vn0', error: 'no answer within 3000 ms' };
  const unguarded = evaluateDns(dns({ inside: [silent], getent: { error: 'not found' }, killSwitchLoaded: false }));
  assert.equal(unguarded.result, 'leak');
  assert.match(unguarded.reason, /queries to 10\.66\.0\.1 leave outside the tunnel \(via vn0\) and no kill switch stops them/);
  // With the kill switch loaded the same silence is a failure, not a leak.
  const guarded = evaluateDns(dns({ inside: [silent], getent: { error: 'not found' } }));
  assert.equal(guarded.result, 'fail');
  assert.match(guarded.reason, /no resolver answered from inside/);
});

test('dns: without whoami answers, the host\'s own resolver address inside is a leak; others pass on routes', () => {
  const blank = (p: ResolverProbe): ResolverProbe => ({ server: p.server, dev: p.dev, rcode: 'NXDOMAIN', txt: [], a: [] });
  const leak = evaluateDns(dns({ inside: [blank({ ...ispResolver, dev: 'vt0' })], host: [blank(ispResolver)], getent: { error: 'not found' } }));
  assert.equal(leak.result, 'leak');
  assert.match(leak.reason, /asks the host's own resolver 198\.51\.100\.53/);
  const ok = evaluateDns(dns({ inside: [blank(vpnResolver)], host: [blank(ispResolver)], getent: { error: 'not found' } }));
  assert.equal(ok.result, 'pass');
  assert.match(ok.reason, /10\.66\.0\.1 via vt0 answer through the tunnel.*only addresses and routes/);
});

test('dns: getent answering while no nameserver does means another path: fail', () => {
  const c = evaluateDns(dns({ inside: [{ server: '10.66.0.1', dev: 'vt0', error: 'timeout' }], getent: { addresses: ['10.9.9.9'] } }));
  assert.equal(c.result, 'fail');
  assert.match(c.reason, /another path/);
});

test('ipv6: any answer while the tunnel carries no IPv6 is a leak; through a v6 tunnel it passes unless it is the host', () => {
  const base = { host: [{ url: 'v6', ip: '2001:db8:1::10' }], hostAddresses6: ['2001:db8:1::10'], tunnel: 'vt0', killSwitchLoaded: false };
  const leak = evaluateIpv6({ ...base, inside: [{ url: 'v6', ip: '2001:db8:1::10' }], tunnelCarriesV6: false, defaultRouteDev: 'vl6' });
  assert.equal(leak.result, 'leak');
  assert.match(leak.reason, /tunnel carries no IPv6/);
  assert.equal(evaluateIpv6({ ...base, inside: [{ url: 'v6', ip: '2001:db8:100::10' }], tunnelCarriesV6: true }).result, 'pass');
  assert.equal(evaluateIpv6({ ...base, inside: [{ url: 'v6', ip: '2001:db8:1::10' }], tunnelCarriesV6: true }).result, 'leak');
});

test('ipv6: no answer passes, unless an unguarded route outside the tunnel makes that unprovable', () => {
  const base = { host: [], hostAddresses6: [], tunnel: 'vt0', tunnelCarriesV6: false };
  const ok = evaluateIpv6({ ...base, inside: [{ url: 'a', error: 'Could not resolve host: a' }, { url: 'b', error: "Couldn't connect to server" }], killSwitchLoaded: true });
  assert.equal(ok.result, 'pass');
  assert.match(ok.reason, /no IPv6 egress from inside \(Couldn't connect to server\)/);
  const unsure = evaluateIpv6({ ...base, inside: [{ url: 'a', error: 'timeout' }], defaultRouteDev: 'vn0', killSwitchLoaded: false });
  assert.equal(unsure.result, 'fail');
});

test('namespace and tunnel', () => {
  assert.equal(evaluateNamespace({ namespace: 'n', up: true, killSwitchConfigured: true, killSwitchLoaded: true, blocked: 3 }).result, 'pass');
  assert.equal(evaluateNamespace({ namespace: 'n', up: false, killSwitchConfigured: true, killSwitchLoaded: false }).result, 'fail');
  assert.match(evaluateNamespace({ namespace: 'n', up: true, killSwitchConfigured: false, killSwitchLoaded: false }).reason, /killSwitch: false/);
  assert.match(evaluateNamespace({ namespace: 'n', up: true, killSwitchConfigured: true, killSwitchLoaded: false }).reason, /not loaded/);
  const t = evaluateTunnel({ vpnType: 'wireguard', state: 'running', connected: true, tunnel: 'vt0', linkExists: true, endpoint: `${VPN}:51820`, handshakeAge: 3 });
  assert.equal(t.result, 'pass');
  assert.equal(t.reason, `wireguard connected on vt0 to ${VPN}:51820, handshake 3s ago`);
  assert.match(evaluateTunnel({ vpnType: 'wireguard', state: 'backoff', connected: false, tunnel: 'vt0', linkExists: false, lastError: 'exited' }).reason, /vt0 is missing; last error: exited/);
  assert.equal(evaluateTunnel({ vpnType: 'none', linkExists: false }).result, 'fail');
});

test('proxies: through the tunnel pass, as the host leak, elsewhere or silent fail, disabled skip', () => {
  const base = { name: 'socks' as const, enabled: true, proxy: '10.0.0.2:1080', insideEgress: VPN, hostEgress: [HOST], hostAddresses: [] };
  assert.equal(evaluateProxy({ ...base, results: [{ url: 'a', ip: VPN }] }).result, 'pass');
  assert.equal(evaluateProxy({ ...base, results: [{ url: 'a', ip: HOST }] }).result, 'leak');
  assert.equal(evaluateProxy({ ...base, results: [{ url: 'a', ip: '198.51.100.77' }] }).result, 'fail');
  assert.equal(evaluateProxy({ ...base, results: [{ url: 'a', error: 'refused' }] }).result, 'fail');
  assert.equal(evaluateProxy({ ...base, enabled: false, results: [] }).result, 'skip');
  assert.equal(evaluateProxy({ ...base, notRun: 'no VPN', results: [] }).result, 'skip');
});

test('published ports and apps', () => {
  assert.equal(evaluatePublished([]).result, 'skip');
  const open = { host: '127.0.0.1', port: 8080, target: 8080, from: 'publish', open: true };
  assert.equal(evaluatePublished([open]).result, 'pass');
  const closed = evaluatePublished([open, { ...open, port: 8081, open: false, error: 'ECONNREFUSED' }]);
  assert.equal(closed.result, 'fail');
  assert.match(closed.reason, /1 of 2 published ports do not answer on the host: 127\.0\.0\.1:8081/);
  assert.equal(evaluateApps([]).result, 'skip');
  assert.equal(evaluateApps([{ name: 'code', autostart: true, state: 'running' }]).result, 'pass');
  assert.equal(evaluateApps([{ name: 'code', autostart: true, state: 'backoff', lastError: 'exited' }]).result, 'fail');
  assert.equal(evaluateApps([{ name: 'code', autostart: true }]).result, 'fail');
  assert.equal(evaluateApps([{ name: 'kilo', autostart: false }]).result, 'skip');
});

test('capture lines: parsed, with the client flow, replies to the host and link-local chatter allowed', () => {
  assert.deepEqual(parseCaptureLine('IP 10.0.0.2.51000 > 198.51.100.10.51820: UDP, length 148'), {
    v6: false, src: '10.0.0.2', sport: 51000, dst: '198.51.100.10', dport: 51820, rest: 'UDP, length 148',
  });
  assert.deepEqual(parseCaptureLine('IP6 2001:db8:ff::2.40000 > 2001:db8:100::80.80: Flags [S], seq 1'), {
    v6: true, src: '2001:db8:ff::2', sport: 40000, dst: '2001:db8:100::80', dport: 80, rest: 'Flags [S], seq 1',
  });
  assert.equal(parseCaptureLine('tcpdump: listening on vh0'), undefined);
  const lines = [
    'IP 10.0.0.2.51000 > 198.51.100.10.51820: UDP, length 148',
    'IP 10.0.0.2.1080 > 10.0.0.1.40000: Flags [.], ack 1',
    'IP6 fe80::1 > ff02::2: ICMP6, router solicitation, length 16',
    'IP 10.0.0.2.44432 > 10.66.0.1.53: 915+ A? whoami.akamai.net. (35)',
    'IP 10.0.0.2.40000 > 198.51.100.80.80: Flags [S], seq 1',
    'IP 10.0.0.2.40001 > 10.0.0.1.53: 1+ A? x. (20)',
  ];
  const leaked = leakedPackets(lines, { clientTraffic: [{ kind: 'endpoint', ip: '198.51.100.10', port: 51820, proto: 'udp', sender: { mark: 51820 } }], hostAddr: '10.0.0.1', replyPorts: [1080] });
  assert.deepEqual(leaked, [lines[3], lines[4], lines[5]]);
});

const drill = (over: Partial<DrillEvidence>): DrillEvidence => ({
  clientPid: 42,
  tunnel: 'vt0',
  tunnelGone: true,
  captured: [],
  nsAddr: '10.0.0.2',
  hostAddr: '10.0.0.1',
  clientTraffic: [{ kind: 'endpoint', ip: VPN, port: 51820, proto: 'udp', sender: { mark: 51820 } }],
  replyPorts: [],
  killSwitchLoaded: true,
  counterBefore: 10,
  counterAfter: 16,
  attempts: ['curl a: refused'],
  restored: true,
  restoreSeconds: 1.5,
  egressBefore: VPN,
  egressAfter: [{ url: 'a', ip: VPN }],
  hostEgress: [HOST],
  ...over,
});

test('drill: 0 packets, counted blocks, restored egress pass; any packet out is a leak', () => {
  const ok = evaluateDrill(drill({}));
  assert.equal(ok.result, 'pass');
  assert.equal(ok.reason, `client killed: 0 packets left the namespace, 6 blocked by the kill switch; tunnel back in 1.5 s, leaving as ${VPN}`);
  assert.equal(ok.evidence.leakedPackets, 0);
  const leak = evaluateDrill(drill({ captured: ['IP 10.0.0.2.1 > 198.51.100.80.80: Flags [S]'] }));
  assert.equal(leak.result, 'leak');
  assert.match(leak.reason, /1 packet left the namespace outside the tunnel/);
  // The client's own flow is not a leak.
  assert.equal(evaluateDrill(drill({ captured: [`IP 10.0.0.2.5 > ${VPN}.51820: UDP, length 32`] })).result, 'pass');
});

test('drill: not restored, nothing counted, tunnel not gone, or a wrong egress afterwards fail; skipped skips', () => {
  assert.match(evaluateDrill(drill({ restored: false, egressAfter: [] })).reason, /did not come back/);
  assert.match(evaluateDrill(drill({ counterAfter: 10 })).reason, /neither seen .* nor counted/);
  assert.match(evaluateDrill(drill({ tunnelGone: false })).reason, /did not go down/);
  assert.equal(evaluateDrill(drill({ egressAfter: [{ url: 'a', ip: HOST }] })).result, 'leak');
  assert.equal(evaluateDrill(drill({ egressAfter: [{ url: 'a', ip: '198.51.100.99' }] })).result, 'fail');
  assert.equal(evaluateDrill(drill({ error: 'tcpdump did not start' })).result, 'fail');
  assert.equal(evaluateDrill(drill({ skipped: 'no VPN' })).result, 'skip');
  // Without a kill switch there is no counter to require; 0 packets seen is the proof.
  assert.equal(evaluateDrill(drill({ killSwitchLoaded: false, counterBefore: undefined, counterAfter: undefined })).result, 'pass');
});

test('exit codes: 0 all pass or skip, 3 any leak, else 1; the table ends with the verdict', () => {
  const c = (name: string, result: Check['result']): Check => ({ name, result, reason: `${name} ${result}`, evidence: { seen: ['1.2.3.4'] } });
  assert.equal(exitCodeFor([c('a', 'pass'), c('b', 'skip')]), 0);
  assert.equal(exitCodeFor([c('a', 'pass'), c('b', 'fail')]), 1);
  assert.equal(exitCodeFor([c('a', 'fail'), c('b', 'leak')]), 3);
  const table = renderChecks([c('egress', 'pass'), c('dns', 'leak'), c('tunnel', 'fail')]);
  assert.match(table, /^CHECK\s+RESULT\s+DETAIL$/m);
  assert.match(table, /^dns\s+LEAK\s+dns leak$/m);
  assert.match(table, /^\s+seen: 1\.2\.3\.4$/m);
  assert.match(table, /^LEAK found by: dns; also failed: tunnel$/m);
  assert.doesNotMatch(renderChecks([c('egress', 'pass')], { evidence: false }), /seen:/);
  assert.match(renderChecks([c('egress', 'pass'), c('apps', 'skip')]), /^all checks passed \(skipped: apps\)$/m);
});

test('DNS wire: a query and a hand-made answer with compression, TXT and AAAA', () => {
  const q = buildQuery(0x1234, 'whoami.example.test', 'TXT');
  assert.equal(q.readUInt16BE(0), 0x1234);
  assert.equal(q.readUInt16BE(2), 0x0100);
  assert.equal(q.subarray(12, 12 + 8).toString('latin1'), '\x06whoami\x07');
  const header = Buffer.from([0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]);
  const question = q.subarray(12);
  const txt = Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60, 0, 5, 2]), Buffer.from('vp'), Buffer.from([1]), Buffer.from('n')]);
  const a = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 66, 0, 1]);
  const msg = Buffer.concat([header, question, txt, a]);
  assert.deepEqual(parseResponse(msg, 0x1234, 'TXT'), { rcode: 0, records: ['vpn'] });
  assert.deepEqual(parseResponse(msg, 0x1234, 'A'), { rcode: 0, records: ['10.66.0.1'] });
  assert.throws(() => parseResponse(msg, 0x4321, 'A'), /another question/);
  const six = Buffer.concat([
    Buffer.from([0, 7, 0x81, 0x83, 0, 1, 0, 1, 0, 0, 0, 0]), buildQuery(7, 'x.test', 'AAAA').subarray(12),
    Buffer.from([0xc0, 0x0c, 0, 28, 0, 1, 0, 0, 0, 1, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]),
  ]);
  assert.deepEqual(parseResponse(six, 7, 'AAAA'), { rcode: 3, records: ['2001:db8::10'] });
  assert.match(expandWhoami('{random}.whoami.example'), /^vpnns-[0-9a-f]{8}\.whoami\.example$/);
  assert.equal(expandWhoami('whoami.akamai.net'), 'whoami.akamai.net');
});

test('helpers: resolv.conf nameservers, curl proxy-user quoting, ports whose replies may leave', () => {
  assert.deepEqual(nameservers('# x\nnameserver 10.66.0.1\nsearch lan\nnameserver fe80::1%eth0\nnameserver bogus\n'), ['10.66.0.1', 'fe80::1%eth0']);
  assert.equal(curlProxyUserConfig('u', 'p"a\\ss'), 'proxy-user = "u:p\\"a\\\\ss"\n');
  const cfg = defaultConfig();
  cfg.publish = [{ port: 8080, host: '127.0.0.1:8080', target: 8080 }];
  assert.deepEqual(replyPorts(cfg).sort((a, b) => a - b), [1080, 1090, 8080]);
});

test('config: the check keys and their defaults', () => {
  const d = defaultConfig().check;
  assert.deepEqual(d, { echoUrl: ['https://api.ipify.org', 'https://ifconfig.me/ip'], echoUrl6: ['https://api6.ipify.org'], dnsWhoami: 'whoami.akamai.net', timeout: 5 });
  const c = parseConfig('check:\n  echoUrl6: http://[2001:db8::80]/\n  dnsWhoami: "{random}.whoami.example.test"\n  hostDns: [198.51.100.53]\n  timeout: 2\n').check;
  assert.deepEqual(c.echoUrl6, ['http://[2001:db8::80]/']);
  assert.equal(c.dnsWhoami, '{random}.whoami.example.test');
  assert.deepEqual(c.hostDns, ['198.51.100.53']);
  assert.throws(() => parseConfig('check:\n  dnsWhoami: "not a name!"\n'), /check\.dnsWhoami/);
  assert.throws(() => parseConfig('check:\n  hostDns: [resolver.example]\n'), /check\.hostDns/);
  assert.throws(() => parseConfig('check:\n  timeout: 0\n'), /check\.timeout/);
});
