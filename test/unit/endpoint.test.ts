import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import dns from 'node:dns';
import { formatHostPort, parseHostPort } from '../../src/config/net-utils.js';
import { parseEndpointSpec, resolveEndpoints } from '../../src/vpn/endpoint.js';
import { VpnConfigError, VpnResolveError } from '../../src/vpn/errors.js';

test('parseEndpointSpec', () => {
  assert.deepEqual(parseEndpointSpec('vpn.example.com:1194/udp'), { host: 'vpn.example.com', port: 1194, proto: 'udp' });
  assert.deepEqual(parseEndpointSpec(' 198.51.100.4:443/TCP '), { host: '198.51.100.4', port: 443, proto: 'tcp' });
  assert.deepEqual(parseEndpointSpec('[2001:db8::4]:51820/udp'), { host: '2001:db8::4', port: 51820, proto: 'udp' });

  const message = (spec: string, where?: string) => {
    try {
      parseEndpointSpec(spec, where);
    } catch (err) {
      assert.ok(err instanceof VpnConfigError);
      assert.equal(err.exitCode, 2);
      return err.message;
    }
    assert.fail(`accepted ${spec}`);
  };
  assert.equal(message('vpn.example.com:1194', 'vpn.endpoints[0]'), 'vpn.endpoints[0]: "vpn.example.com:1194" has no protocol; write "vpn.example.com:1194/udp" or "vpn.example.com:1194/tcp".');
  assert.equal(message('vpn.example.com:1194/icmp'), 'unknown protocol "icmp" in "vpn.example.com:1194/icmp"; expected udp or tcp.');
  assert.equal(message('vpn.example.com/udp'), '"vpn.example.com" has no port; write "vpn.example.com:PORT".');
  assert.equal(message('vpn.example.com:99999/udp'), 'bad port "99999" in "vpn.example.com:99999"; expected an integer from 1 to 65535.');
  assert.equal(message('2001:db8::4:51820/udp'), '"2001:db8::4:51820" is ambiguous; put an IPv6 address in brackets, as in "[2001:db8::1]:51820".');
  assert.equal(message('10.0.0.256:1/udp'), '"10.0.0.256" is neither an IP address nor a host name.');
});

test('parseHostPort and formatHostPort are inverses', () => {
  for (const s of ['vpn.example.com:1', '198.51.100.9:65535', '[2001:db8::9]:51820']) {
    const hp = parseHostPort(s);
    assert.ok(hp.ok);
    assert.equal(formatHostPort(hp), s);
  }
});

// A DNS server on loopback that knows a few names; "silent.example.com" gets no answer at all.
const ZONE: Record<string, { A?: string[]; AAAA?: string[] }> = {
  'vpn.example.com': { A: ['203.0.113.10', '203.0.113.11'], AAAA: ['2001:db8::10'] },
  'other.example.com': { A: ['203.0.113.11'] },
  'v6only.example.com': { AAAA: ['2001:db8::66'] },
};
let server: Socket;
let serverAddr: string;
let queries = 0;

function answer(query: Buffer): Buffer | undefined {
  let off = 12;
  const labels: string[] = [];
  while (query[off]! !== 0) {
    labels.push(query.subarray(off + 1, off + 1 + query[off]!).toString('ascii'));
    off += query[off]! + 1;
  }
  off += 1;
  const name = labels.join('.').toLowerCase();
  const type = query.readUInt16BE(off);
  if (name === 'silent.example.com') return undefined;
  const question = query.subarray(12, off + 4);
  const entry = ZONE[name];
  const records = entry === undefined ? [] : type === 1 ? (entry.A ?? []) : type === 28 ? (entry.AAAA ?? []) : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  header.writeUInt16BE(0x8180 | (entry === undefined ? 3 : 0), 2); // response, RD, RA; NXDOMAIN for unknown names
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const rrs = records.map((ip) => {
    const rdata = type === 1 ? Buffer.from(ip.split('.').map(Number)) : ipv6Bytes(ip);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, question, ...rrs]);
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const buf = Buffer.alloc(16);
  groups.forEach((g, i) => buf.writeUInt16BE(parseInt(g, 16), i * 2));
  return buf;
}

before(async () => {
  server = createSocket('udp4');
  server.on('message', (msg, rinfo) => {
    queries++;
    const reply = answer(msg);
    if (reply) server.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  serverAddr = `127.0.0.1:${server.address().port}`;
});

after(() => server.close());

test('numeric hosts pass through without a query', async () => {
  const before = queries;
  const eps = await resolveEndpoints(
    [
      { host: '198.51.100.1', port: 1194, proto: 'udp' },
      { host: '2001:db8::1', port: 443, proto: 'tcp' },
      { host: '198.51.100.1', port: 1194, proto: 'udp' },
    ],
    { resolveWith: [serverAddr] },
  );
  assert.deepEqual(eps, [
    { ip: '198.51.100.1', port: 1194, proto: 'udp' },
    { ip: '2001:db8::1', port: 443, proto: 'tcp' },
  ]);
  assert.equal(queries, before);
});

test('every address of a name becomes an endpoint; AAAA only when asked', async () => {
  const hosts = [
    { host: 'vpn.example.com', port: 1194, proto: 'udp' as const },
    { host: 'VPN.example.com', port: 443, proto: 'tcp' as const },
    { host: 'other.example.com', port: 1194, proto: 'udp' as const },
  ];
  assert.deepEqual(await resolveEndpoints(hosts, { resolveWith: [serverAddr] }), [
    { ip: '203.0.113.10', port: 1194, proto: 'udp' },
    { ip: '203.0.113.11', port: 1194, proto: 'udp' },
    { ip: '203.0.113.10', port: 443, proto: 'tcp' },
    { ip: '203.0.113.11', port: 443, proto: 'tcp' },
  ]);
  assert.deepEqual(await resolveEndpoints(hosts.slice(0, 1), { resolveWith: [serverAddr], ipv6: true }), [
    { ip: '203.0.113.10', port: 1194, proto: 'udp' },
    { ip: '203.0.113.11', port: 1194, proto: 'udp' },
    { ip: '2001:db8::10', port: 1194, proto: 'udp' },
  ]);
  assert.deepEqual(await resolveEndpoints([{ host: 'v6only.example.com', port: 1, proto: 'udp' }], { resolveWith: [serverAddr], ipv6: true }), [
    { ip: '2001:db8::66', port: 1, proto: 'udp' },
  ]);
});

async function rejection(p: Promise<unknown>): Promise<VpnResolveError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof VpnResolveError, String(err));
    assert.equal(err.exitCode, 1);
    return err;
  }
  assert.fail('expected a VpnResolveError');
}

test('failures are one sentence with the fix', async () => {
  const nx = await rejection(resolveEndpoints([{ host: 'nope.example.com', port: 1194, proto: 'udp' }], { resolveWith: [serverAddr] }));
  assert.equal(nx.message, `could not resolve the VPN server name "nope.example.com" with ${serverAddr} (ENOTFOUND); check the name or the servers in vpn.resolveWith.`);
  assert.equal(nx.host, 'nope.example.com');
  assert.equal(nx.code, 'ENOTFOUND');

  const v6 = await rejection(resolveEndpoints([{ host: 'v6only.example.com', port: 1194, proto: 'udp' }], { resolveWith: [serverAddr] }));
  assert.equal(v6.message, `could not resolve the VPN server name "v6only.example.com" with ${serverAddr} (ENODATA); it has no IPv4 address; use a server name with an A record.`);

  const started = Date.now();
  const slow = await rejection(resolveEndpoints([{ host: 'silent.example.com', port: 1194, proto: 'udp' }], { resolveWith: [serverAddr], timeoutMs: 300 }));
  assert.equal(slow.code, 'ETIMEOUT');
  assert.ok(Date.now() - started < 2000, 'the deadline holds');
  assert.match(slow.message, /^could not resolve the VPN server name "silent.example.com" with 127\.0\.0\.1:\d+ \(ETIMEOUT\); check the name or the servers in vpn\.resolveWith\.$/);
});

test('bad resolveWith is a config error', async () => {
  await assert.rejects(resolveEndpoints([{ host: 'vpn.example.com', port: 1, proto: 'udp' }], { resolveWith: ['not-an-ip'] }), (err: unknown) => {
    assert.ok(err instanceof VpnConfigError);
    assert.equal(err.message, 'vpn.resolveWith: "not-an-ip" is not a list of DNS server addresses.');
    return true;
  });
});

test('without resolveWith the host resolver is used (localhost from /etc/hosts)', async () => {
  assert.deepEqual(await resolveEndpoints([{ host: 'localhost', port: 1194, proto: 'udp' }]), [{ ip: '127.0.0.1', port: 1194, proto: 'udp' }]);
});

test('a host resolver failure names the setting that fixes it', async (t) => {
  // Mocked: a real miss would send a query to this machine's upstream resolver.
  t.mock.method(dns.promises, 'lookup', async () => {
    throw Object.assign(new Error('getaddrinfo ENOTFOUND vpn.example.com'), { code: 'ENOTFOUND' });
  });
  const err = await rejection(resolveEndpoints([{ host: 'vpn.example.com', port: 1194, proto: 'udp' }]));
  assert.equal(err.message, 'could not resolve the VPN server name "vpn.example.com" on the host (ENOTFOUND); check the name or set vpn.resolveWith.');
  assert.ok(err.cause instanceof Error);
});
