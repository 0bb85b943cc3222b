// Proves the simulated internet behaves as the other end-to-end tests assume.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OWNER_DIR } from '../../src/world/cleanup.js';
import { addScratchNamespace, startOpenvpnClient, startWireguardClient } from '../../src/world/clients.js';
import { isAlive, run } from '../../src/world/run.js';
import { createWorld, sweepStaleWorlds, type World } from '../../src/world/world.js';

if (process.getuid?.() !== 0) throw new Error('world tests need root (network namespaces)');

const WORLD_JS = fileURLToPath(new URL('../../src/world/world.js', import.meta.url));

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list']).toString().split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}

function goneOrZombie(pid: number): boolean {
  if (!isAlive(pid)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Nothing of a world may remain: namespaces, processes, /etc/netns, sockets, run dir, owner record. */
/** SIGKILL is delivered, not awaited: on a busy machine a killed process may take a moment to die. */
function waitGone(pid: number, ms = 3000): boolean {
  const until = Date.now() + ms;
  while (!goneOrZombie(pid)) {
    if (Date.now() > until) return false;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  return true;
}

function assertGone(prefix: string, dir: string, pids: number[]): void {
  assert.deepEqual(namespaces().filter((n) => n.startsWith(`${prefix}-`)), [], 'namespaces left behind');
  for (const pid of pids) assert.ok(waitGone(pid), `process ${pid} left behind`);
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((e) => e.startsWith(`${prefix}-`)) : [];
  assert.deepEqual(etc, [], '/etc/netns entries left behind');
  const socks = existsSync('/var/run/wireguard') ? readdirSync('/var/run/wireguard').filter((e) => e.startsWith(prefix)) : [];
  assert.deepEqual(socks, [], 'WireGuard sockets left behind');
  assert.ok(!existsSync(join(OWNER_DIR, `${prefix}.owner`)), 'owner record left behind');
  if (process.env.KEEP_WORLD !== '1') assert.ok(!existsSync(dir), 'run dir left behind');
}

async function curl(w: World, ns: string | 'host', args: string[]): Promise<string> {
  const argv = ['curl', '-sS', '-m', '5', ...args];
  const r = ns === 'host' ? await w.inHost(argv) : await w.inNs(ns, argv);
  assert.equal(r.code, 0, `curl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  await sweepStaleWorlds();
});

describe('default world', () => {
  let w: World;
  let pidsSeen: number[] = [];

  before(async () => {
    const t0 = Date.now();
    w = await createWorld();
    // Not an assertion (CI machines vary), but slow creation should be visible.
    process.stderr.write(`# world ${w.prefix} created in ${Date.now() - t0} ms\n`);
  });
  after(async () => {
    await w?.destroy();
  });

  it('has the documented names and addresses', () => {
    assert.match(w.prefix, /^vt[0-9a-f]{4}$/);
    assert.deepEqual(w.ns, { wan: `${w.prefix}-wan`, host: `${w.prefix}-host`, lan: `${w.prefix}-lan`, vsrv: `${w.prefix}-vsrv` });
    for (const n of Object.values(w.ns)) assert.ok(n.length <= 15);
    assert.equal(w.names.echo, 'echo.example.test');
    assert.equal(w.addr.hostPublic, '203.0.113.10');
    assert.equal(w.addr.vpnResolver, '10.66.0.1');
    assert.ok(existsSync(w.caCert));
  });

  it('answers the host its public IPv4 address over HTTP and HTTPS', async () => {
    const resolve = [`--resolve`, `${w.names.echo}:80:${w.addr.echo}`, `--resolve`, `${w.names.echo}:443:${w.addr.echo}`];
    assert.equal(await curl(w, 'host', [...resolve, `http://${w.names.echo}/`]), '203.0.113.10\n');
    assert.deepEqual(JSON.parse(await curl(w, 'host', [...resolve, `http://${w.names.echo}/json`])), { ip: '203.0.113.10' });
    assert.equal(await curl(w, 'host', [...resolve, '--cacert', w.caCert, `https://${w.names.echo}/`]), '203.0.113.10\n');
    const log = await w.echoRequests();
    const last = log.at(-1);
    assert.equal(last?.from, '203.0.113.10');
    assert.equal(last?.host, w.names.echo);
    assert.equal(last?.path, '/');
    assert.equal(last?.tls, true);
  });

  it('answers the host its public IPv6 address', async () => {
    assert.equal(await curl(w, 'host', ['-g', `http://[${w.addr.echo6}]/`]), '2001:db8:1::10\n');
    assert.equal(
      await curl(w, 'host', ['--cacert', w.caCert, '--resolve', `${w.names.echo}:443:[${w.addr.echo6}]`, `https://${w.names.echo}/`]),
      '2001:db8:1::10\n',
    );
  });

  it('serves and logs names from the ISP resolver, over UDP and TCP', async () => {
    const a = await w.resolveVia(w.ns.host, w.addr.ispResolver, w.names.echo, 'A');
    assert.deepEqual(a.answers.map((x) => x.data), ['198.51.100.80']);
    const aaaa = await w.resolveVia(w.ns.host, w.addr.ispResolver, w.names.echo, 'AAAA', 'tcp');
    assert.deepEqual(aaaa.answers.map((x) => x.data), ['2001:db8:100::80']);
    const vpn = await w.resolveVia(w.ns.host, w.addr.ispResolver, w.names.vpn, 'A');
    assert.deepEqual(vpn.answers.map((x) => x.data), [w.addr.vpnPublic]);
    const who = await w.resolveVia(w.ns.host, w.addr.ispResolver, w.names.whoami, 'TXT');
    assert.deepEqual(who.answers.map((x) => x.data), ['isp']);
    const whoA = await w.resolveVia(w.ns.host, w.addr.ispResolver, w.names.whoami, 'A');
    assert.deepEqual(whoA.answers.map((x) => x.data), [w.addr.ispResolver]);
    const nx = await w.resolveVia(w.ns.host, w.addr.ispResolver, `nope.${w.names.zone}`, 'A');
    assert.equal(nx.rcodeName, 'NXDOMAIN');
    const queries = await w.dnsQueries('isp');
    assert.ok(queries.some((q) => q.from === '203.0.113.10' && q.name === w.names.echo && q.type === 'A'), JSON.stringify(queries));
    assert.ok(queries.some((q) => q.type === 'AAAA' && q.proto === 'tcp'));
    // ip netns exec users get the ISP resolver through /etc/netns.
    assert.equal(readFileSync(`/etc/netns/${w.ns.host}/resolv.conf`, 'utf8'), `nameserver ${w.addr.ispResolver}\n`);
    const getent = await w.inNs(w.ns.host, ['getent', 'ahostsv4', w.names.echo]);
    assert.match(getent.stdout, /198\.51\.100\.80/);
  });

  it('keeps the provider resolver out of reach of the host, and host forwarding off', async () => {
    await assert.rejects(w.resolveVia(w.ns.host, w.addr.vpnResolver, w.names.whoami, 'TXT'), /no answer|unreach/i);
    const fwd = await w.inNs(w.ns.host, ['sysctl', '-n', 'net.ipv4.ip_forward']);
    assert.equal(fwd.stdout.trim(), '0');
  });

  it('lets the LAN neighbour reach the host but nothing beyond', async () => {
    // A listener on the host's LAN address, so "reached" means a real connection.
    const listener = spawn('ip', ['netns', 'exec', w.ns.host, process.execPath, '-e',
      `require('net').createServer((s) => s.end('hi\\n')).listen(8088, '${w.addr.hostLan}', () => console.log('up'))`]);
    try {
      await new Promise<void>((resolve) => listener.stdout.once('data', () => resolve()));
      assert.equal(await w.probeTcp(w.ns.lan, w.addr.hostLan, 8088), 'open');
      assert.equal(await w.probeTcp(w.ns.lan, w.addr.hostLan, 8089), 'refused');
      assert.equal(await w.probeTcp(w.ns.lan, w.addr.echo, 80, 1000), 'unreachable');
    } finally {
      listener.kill('SIGKILL');
    }
  });

  it('captures packets on the host uplink', async () => {
    const cap = await w.capture(w.ns.host, w.hostIface, 'tcp port 80');
    await curl(w, 'host', [`http://${w.addr.echo}/`]);
    const lines = await cap.stop();
    assert.ok(lines.some((l) => l.includes(`${w.addr.echo}.80`)), lines.join('\n'));
  });

  it('runs a WireGuard server whose keys and peers are right', async () => {
    const wg = w.wireguard!;
    assert.ok(wg.pid() && isAlive(wg.pid()!));
    const show = await wg.show();
    assert.match(show, new RegExp(`listening port: ${wg.port}`));
    for (const addr of wg.clientAddresses) assert.match(show, new RegExp(`allowed ips: ${addr.replace(/\./g, '\\.')}/32`));
    // In-process key generation must agree with wg(8).
    const conf = wg.clientConfig();
    const priv = /PrivateKey = (\S+)/.exec(conf)?.[1] ?? '';
    const pub = (await run(['wg', 'pubkey'], { input: `${priv}\n` })).stdout.trim();
    assert.match(show, new RegExp(`peer: ${pub.replace(/[+/]/g, '\\$&')}`));
    assert.match(conf, /Address = 10\.66\.0\.2\/32/);
    assert.match(conf, /DNS = 10\.66\.0\.1/);
    assert.match(conf, /Endpoint = 198\.51\.100\.10:51820/);
    assert.match(conf, /AllowedIPs = 0\.0\.0\.0\/0, ::\/0/);
    assert.match(wg.clientConfig({ endpointHost: w.names.vpn, client: 1 }), /Endpoint = vpn\.example\.test:51820[\s\S]*/);
    assert.match(wg.clientConfig({ client: 1 }), /Address = 10\.66\.0\.3\/32/);
    const path = await wg.writeClientConfig();
    assert.equal((await run(['stat', '-c', '%a', path])).stdout.trim(), '600');
  });

  it('carries a hand-made WireGuard client behind the host to the internet as 198.51.100.10', async () => {
    const scratch = await addScratchNamespace(w, { name: 'wgc', parent: 'host', index: 1 });
    const client = await startWireguardClient(w, scratch.ns);
    assert.equal(await curl(w, scratch.ns, [`http://${w.addr.echo}/`]), '198.51.100.10\n');
    const who = await w.resolveVia(scratch.ns, w.addr.vpnResolver, w.names.whoami, 'TXT');
    assert.deepEqual(who.answers.map((x) => x.data), ['vpn']);
    const vq = await w.dnsQueries('vpn');
    assert.ok(vq.some((q) => q.from === '10.66.0.2' && q.name === w.names.whoami && q.resolver === 'vpn'));
    assert.ok(/latest handshake/.test(await w.wireguard!.show()));
    pidsSeen.push(client.pid!);
    await client.stop();
  });

  it('stops and restarts the WireGuard server', async () => {
    const wg = w.wireguard!;
    const before = wg.pid()!;
    await wg.stop();
    assert.equal(wg.pid(), undefined);
    assert.ok(goneOrZombie(before));
    await wg.start();
    assert.ok(wg.pid() && wg.pid() !== before);
    assert.match(await wg.show(), /allowed ips: 10\.66\.0\.2\/32/);
    // The provider's resolver must survive its tunnel address going away and coming back.
    const scratch = await addScratchNamespace(w, { name: 'wg2', parent: 'host', index: 4 });
    const client = await startWireguardClient(w, scratch.ns, { client: 1 });
    const who = await w.resolveVia(scratch.ns, w.addr.vpnResolver, w.names.whoami, 'TXT', 'tcp');
    assert.deepEqual(who.answers.map((x) => x.data), ['vpn']);
    assert.equal(await curl(w, scratch.ns, [`http://${w.addr.echo}/`]), '198.51.100.10\n');
    await client.stop();
  });

  it('carries an OpenVPN client to the internet as the OpenVPN public address', async () => {
    const ov = w.openvpn!;
    assert.equal(ov.proto, 'udp');
    assert.equal(ov.port, 1194);
    const text = ov.clientConfig({ endpointHost: w.names.vpn });
    assert.match(text, /^remote vpn\.example\.test 1194 udp$/m);
    assert.match(text, /<ca>[\s\S]*<\/ca>[\s\S]*<cert>[\s\S]*<key>/);
    const scratch = await addScratchNamespace(w, { name: 'ovc', parent: 'host', index: 2 });
    const client = await startOpenvpnClient(w, scratch.ns);
    assert.equal(await curl(w, scratch.ns, [`http://${w.addr.echo}/`]), `${w.addr.ovpnPublic}\n`);
    const who = await w.resolveVia(scratch.ns, w.addr.ovpnResolver, w.names.whoami, 'TXT');
    assert.deepEqual(who.answers.map((x) => x.data), ['vpn']);
    pidsSeen.push(client.pid!);
    await client.stop();
    const before = ov.pid()!;
    await ov.stop();
    assert.ok(goneOrZombie(before));
    await ov.start();
    assert.ok(ov.pid() && ov.pid() !== before);
  });

  it('destroy() leaves nothing behind', async () => {
    const { prefix, dir } = w;
    pidsSeen = [...pidsSeen, ...w.pids()];
    assert.ok(pidsSeen.length >= 4, `expected several pids, got ${pidsSeen}`);
    await w.destroy();
    assertGone(prefix, dir, pidsSeen);
  });
});

describe('a world with other addresses, TCP OpenVPN, a plug-in service and a FORWARD drop', () => {
  let w: World;
  let moduleDir: string;

  before(async () => {
    moduleDir = mkdtempSync(join(tmpdir(), 'vpnns-world-mod-'));
    const handler = join(moduleDir, 'gemini.mjs');
    writeFileSync(handler, `export default (req, res, ctx) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ candidates: [{ content: { parts: [{ text: 'hello from ' + ctx.options.who } ] } }], from: ctx.from }));
};\n`);
    w = await createWorld({
      prefix: 'vtx' + Math.random().toString(16).slice(2, 6),
      zone: 'other.test',
      wireguard: false,
      openvpn: { proto: 'tcp', port: 443 },
      hostForwardDrop: true,
      addresses: {
        hostPublic: '203.0.113.77', wanGw: '203.0.113.254', hostPublic6: '2001:db8:77::7', wanGw6: '2001:db8:77::1',
        ispResolver: '198.51.100.153', echo: '198.51.100.180', echo6: '2001:db8:200::80',
        vsrvGw: '198.51.100.129', vsrvGw6: '2001:db8:200::1', vpnPublic: '198.51.100.140', vpnPublic6: '2001:db8:200::140',
        ovpnPublic: '198.51.100.140', ovpnNet: '10.77.0.0/24', hostLan: '192.168.88.1', lanNeighbour: '192.168.88.2',
      },
      extraWanAddresses: ['198.51.100.190'],
      extraRecords: { 'generativelanguage.googleapis.com': { A: ['198.51.100.190'] } },
      extraServices: [{ name: 'gemini', module: handler, listen: [{ host: '198.51.100.190', port: 443, tls: true }], options: { who: 'mock' } }],
    });
  });
  after(async () => {
    await w?.destroy();
    rmSync(moduleDir, { recursive: true, force: true });
  });

  it('uses the given addresses and zone', async () => {
    assert.equal(await curl(w, 'host', [`http://${w.addr.echo}/`]), '203.0.113.77\n');
    assert.equal(await curl(w, 'host', ['-g', `http://[${w.addr.echo6}]/`]), '2001:db8:77::7\n');
    const a = await w.resolveVia(w.ns.host, '198.51.100.153', 'echo.other.test', 'A');
    assert.deepEqual(a.answers.map((x) => x.data), ['198.51.100.180']);
    assert.equal(w.wireguard, undefined);
  });

  it('serves extra records and a plug-in HTTPS service under the test CA', async () => {
    const name = 'generativelanguage.googleapis.com';
    const r = await w.resolveVia(w.ns.host, w.addr.ispResolver, name, 'A');
    assert.deepEqual(r.answers.map((x) => x.data), ['198.51.100.190']);
    const body = JSON.parse(await curl(w, 'host', ['--cacert', w.caCert, '--resolve', `${name}:443:198.51.100.190`, '-X', 'POST', `https://${name}/v1beta/models/x:generateContent`]));
    assert.equal(body.candidates[0].content.parts[0].text, 'hello from mock');
    const log = await w.serviceRequests('gemini');
    assert.equal(log.at(-1)?.host, name);
    assert.equal(log.at(-1)?.method, 'POST');
  });

  it('has the FORWARD drop table in the host namespace', async () => {
    const r = await w.inNs(w.ns.host, ['nft', 'list', 'table', 'ip', 'filter']);
    assert.match(r.stdout, /chain FORWARD \{[\s\S]*policy drop;/);
  });

  it('carries a TCP OpenVPN client from the internet', async () => {
    assert.match(w.openvpn!.clientConfig(), /^remote 198\.51\.100\.140 443 tcp$/m);
    // Behind wan, since the host's FORWARD drop would stop a client behind it.
    const scratch = await addScratchNamespace(w, { name: 'ovt', parent: 'wan', index: 3 });
    await startOpenvpnClient(w, scratch.ns, { endpointHost: 'vpn.other.test' });
    assert.equal(await curl(w, scratch.ns, [`http://${w.addr.echo}/`]), '198.51.100.140\n');
  });
});

describe('cleanup without destroy()', () => {
  // process.exit right after a pipe write would lose the write; wait for it to flush.
  for (const [how, code] of [['exits', 'await new Promise((r) => process.stdout.write("", r)); process.exit(3)'], ['throws', 'throw new Error("boom")']] as const) {
    it(`removes the world when its process ${how}`, async () => {
      const prefix = 'vte' + Math.random().toString(16).slice(2, 6);
      const r = await run([process.execPath, '--input-type=module', '-e',
        `const { createWorld } = await import(${JSON.stringify(WORLD_JS)});
         const w = await createWorld({ prefix: ${JSON.stringify(prefix)} });
         process.stdout.write(JSON.stringify(w.pids()) + '\\n');
         ${code};`], { timeoutMs: 30000 });
      assert.notEqual(r.code, 0);
      const pids = JSON.parse(r.stdout.trim().split('\n')[0] ?? '[]') as number[];
      assert.ok(pids.length >= 3, r.stdout + r.stderr);
      assertGone(prefix, `/tmp/vpnns-world-${prefix}`, pids);
    });
  }
});

describe('sweepStaleWorlds', () => {
  it('removes the world of a process that was killed, and spares live ones', async () => {
    const live = await createWorld({ wireguard: false, openvpn: false });
    const prefix = 'vts' + Math.random().toString(16).slice(2, 6);
    const child = spawn(process.execPath, ['--input-type=module', '-e',
      `const { createWorld } = await import(${JSON.stringify(WORLD_JS)});
       await createWorld({ prefix: ${JSON.stringify(prefix)}, openvpn: false });
       console.log('up'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (c) => reject(new Error(`child exited ${c}`)));
      });
      assert.ok(namespaces().includes(`${prefix}-host`));
      const inside = execFileSync('ip', ['netns', 'pids', `${prefix}-vsrv`]).toString().trim().split('\n').map(Number);
      child.kill('SIGKILL'); // no exit handler runs: only the sweep can clean this up
      await new Promise((r) => child.once('exit', r));
      const swept = await sweepStaleWorlds();
      assert.ok(swept.includes(prefix));
      assert.ok(!swept.includes(live.prefix));
      assertGone(prefix, `/tmp/vpnns-world-${prefix}`, inside);
      assert.ok(namespaces().includes(live.ns.host), 'live world was touched');
    } finally {
      child.kill('SIGKILL');
      await live.destroy();
    }
  });
});
