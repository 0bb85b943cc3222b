// The exact exceptions (`allow`) and host services (`hostServices`): validation of every value,
// the kill-switch rules, the policy routes, the forwarders' argv, and how `check` reads them.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultForwarderRuntime } from '../../src/services/forward.js';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
import { allowWarnings, checkAllowTo, describeAllow, type AllowConfig } from '../../src/config/exceptions.js';
import { renderKillSwitch, killSwitchResource, type KillSwitchSpec } from '../../src/firewall/killswitch.js';
import { allowRoutesResource, renderAllowRoutes } from '../../src/net/allow-routes.js';
import { hostServiceProcesses, hostServiceSpecs } from '../../src/services/host-services.js';
import { evaluateExceptions, leakedPackets } from '../../src/checks/evaluate.js';
import { namesFor } from '../../src/core/names.js';
import { System } from '../../src/sys/system.js';
import type { Context } from '../../src/core/resource.js';
import { assertGolden } from './golden.js';
import { renderUnits } from '../../src/systemd/units.js';

const names = namesFor({ namespace: 'vpn-ns', network: { subnet: '10.0.0.0/30' } } as Parameters<typeof namesFor>[0]);
const cfg = (yaml: string) => parseConfig(yaml, 'vpnns.yaml');
function refused(yaml: string, message: RegExp): void {
  assert.throws(() => cfg(yaml), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.exitCode, 2);
    assert.match(e.message, message);
    assert.equal(e.message.split('\n').length, 1, 'one sentence');
    return true;
  });
}

describe('allow: validation', () => {
  test('a numeric address or network, a port, a protocol (tcp by default)', () => {
    const c = cfg('allow:\n  - {to: 192.168.1.10, port: 8080}\n  - {to: 192.168.2.0/24, port: 53, proto: udp}\n  - {to: 10.20.0.0/16}\n');
    assert.deepEqual(c.allow, [{ to: '192.168.1.10', port: 8080, proto: 'tcp' }, { to: '192.168.2.0/24', port: 53, proto: 'udp' }, { to: '10.20.0.0/16', proto: 'tcp' }]);
    assert.equal(cfg('namespace: x\n').allow, undefined);
  });
  test('host names, IPv6, /0, short prefixes, host bits, loopback, multicast and the link itself are refused with one sentence', () => {
    refused('allow: [{to: nas.local, port: 22}]', /allow\[0\]\.to: expected a numeric IPv4 address .*no host names/);
    refused('allow: [{to: "2001:db8::1", port: 22}]', /allow\[0\]\.to: IPv6 exceptions are not supported/);
    refused('allow: [{to: 0.0.0.0/0, port: 443}]', /0\.0\.0\.0\/0 would send everything around the VPN/);
    refused('allow: [{to: 0.0.0.0/1, port: 443}]', /prefix shorter than \/8/);
    refused('allow: [{to: 192.168.1.5/24, port: 22}]', /host bits zero.*use 192\.168\.1\.0\/24/);
    refused('allow: [{to: 127.0.0.1, port: 11434}]', /namespace's own loopback; .*hostServices/);
    refused('allow: [{to: 224.0.0.1, port: 5353, proto: udp}]', /multicast/);
    refused('allow: [{to: 255.255.255.255, port: 67, proto: udp}]', /reserved/);
    refused('allow: [{to: 10.0.0.0/24, port: 22}]', /allow\[0\]: 10\.0\.0\.0\/24 overlaps the link to the host \(10\.0\.0\.0\/30\)/);
    refused('allow: [{to: 192.168.1.10, port: 0}]', /allow\[0\]\.port: /);
    refused('allow: [{to: 192.168.1.10, port: 65536}]', /allow\[0\]\.port: /);
    refused('allow: [{to: 192.168.1.10, port: 22, proto: icmp}]', /allow\[0\]\.proto: /);
    refused('allow: [{port: 22}]', /allow\[0\]\.to: /);
    refused('allow: [{to: 192.168.1.10, port: 22, via: x}]', /allow\[0\]\.via: /);
  });
  test("a numeric endpoint of a command VPN inside an exception is refused before anything runs", () => {
    refused('vpn: {type: command, start: [x], interface: tun0, endpoints: ["192.168.1.7:1194/udp"]}\nallow: [{to: 192.168.1.0/24, port: 1194, proto: udp}]',
      /allow\[0\]: 192\.168\.1\.0\/24 covers the VPN server 192\.168\.1\.7/);
  });
  test('no port and a public destination are warned about, one sentence each', () => {
    const w = allowWarnings([{ to: '192.168.1.10', proto: 'tcp' }, { to: '203.0.113.5', port: 443, proto: 'tcp' }, { to: '192.168.1.11', port: 22, proto: 'tcp' }]);
    assert.equal(w.length, 2);
    assert.match(w[0]!, /^allow\[0\] \(tcp 192\.168\.1\.10 \(every port\)\) has no `port`: every tcp port/);
    assert.match(w[1]!, /^allow\[1\] sends traffic to 203\.0\.113\.5, a public address, around the VPN/);
  });
  test('checkAllowTo is also the renderers\' last line of defence', () => {
    for (const bad of ['0.0.0.0/0', 'a.b', '127.0.0.1', '1.2.3.4/33', '01.2.3.4']) assert.ok(checkAllowTo(bad), bad);
    assert.throws(() => renderKillSwitch(ks([{ to: '0.0.0.0/0', port: 1, proto: 'tcp' }])), /refusing allow entry/);
    assert.throws(() => renderKillSwitch(ks([{ to: '192.168.1.1', port: 1, proto: 'icmp' as 'tcp' }])), /refusing protocol/);
    assert.throws(() => renderAllowRoutes([{ to: '192.168.1.1', port: 70000, proto: 'tcp' }], names), /refusing port 70000/);
  });
});

const ALLOW: AllowConfig[] = [
  { to: '192.168.77.2', port: 8080, proto: 'tcp' },
  { to: '192.168.50.0/24', port: 53, proto: 'udp' },
  { to: '10.20.0.0/16', proto: 'tcp' },
];
function ks(allow: AllowConfig[]): KillSwitchSpec {
  return { table: names.nsTable, vethNs: names.vethNs, hostAddr: names.hostAddr, tunnel: names.tunnel, client: [{ kind: 'mark', mark: 51820 }], allow };
}

describe('allow: kill switch and routes', () => {
  test('the kill switch admits each exception by address, protocol and port, before the final reject', () => {
    const rs = renderKillSwitch(ks(ALLOW));
    const lines = rs.split('\n').map((l) => l.trim());
    const reject = lines.findIndex((l) => l.startsWith('counter name "blocked"'));
    const rules = lines.filter((l) => l.includes('comment "exception '));
    assert.deepEqual(rules, [
      'oifname "vn-vpn-ns" ip daddr 192.168.77.2/32 tcp dport 8080 accept comment "exception tcp 192.168.77.2:8080"',
      'oifname "vn-vpn-ns" ip daddr 192.168.50.0/24 udp dport 53 accept comment "exception udp 192.168.50.0/24:53"',
      'oifname "vn-vpn-ns" ip daddr 10.20.0.0/16 meta l4proto tcp accept comment "exception tcp 10.20.0.0/16 (every port)"',
    ]);
    for (const r of rules) assert.ok(lines.indexOf(r) < reject);
  });
  test('golden: kill switch with exceptions', () => assertGolden('killswitch-allow.nft', renderKillSwitch(ks(ALLOW))));
  test('routes: one table whose only route is the host end, one rule per exception', () => {
    assert.deepEqual(renderAllowRoutes(ALLOW, names), [
      ['ip', '-n', 'vpn-ns', 'route', 'replace', 'default', 'via', '10.0.0.1', 'dev', 'vn-vpn-ns', 'table', '5180'],
      ['ip', '-n', 'vpn-ns', 'rule', 'add', 'priority', '5180', 'to', '192.168.77.2/32', 'ipproto', 'tcp', 'dport', '8080', 'table', '5180'],
      ['ip', '-n', 'vpn-ns', 'rule', 'add', 'priority', '5180', 'to', '192.168.50.0/24', 'ipproto', 'udp', 'dport', '53', 'table', '5180'],
      ['ip', '-n', 'vpn-ns', 'rule', 'add', 'priority', '5180', 'to', '10.20.0.0/16', 'ipproto', 'tcp', 'table', '5180'],
    ]);
    assert.deepEqual(renderAllowRoutes([], names), []);
  });
});

describe('hostServices', () => {
  test('a bare port, a target, duplicates and vpnns\'s own loopback publications', () => {
    assert.deepEqual(cfg('hostServices: [11434, {port: 8000, target: 18000}]').hostServices, [{ port: 11434, target: 11434 }, { port: 8000, target: 18000 }]);
    refused('hostServices: [11434, 11434]', /hostServices\[1\]: port 11434 is listed twice/);
    refused('hostServices: [{port: 9000, target: 1080}]\nproxies: {socks: {publish: true}}', /127\.0\.0\.1:1080 is a port vpnns publishes from the namespace itself/);
    refused('publish: [8080]\nhostServices: [8080]', /127\.0\.0\.1:8080 is a port vpnns publishes/);
    refused('apps: {code-server: {}}\nhostServices: [8080]', /hostServices\[0\]: port 8080 is where app code-server listens inside/);
    refused('hostServices: [{target: 5}]', /hostServices\[0\]\.port: missing; add `port:`/);
    refused('hostServices: [70000]', /hostServices\[0\]\.port: /);
  });
  test('two forwarders per entry meet on a Unix socket under the state directory; both drop to nobody', () => {
    const rt = { node: '/usr/bin/node', script: '/opt/vpnns/forwarder-main.js' };
    const p = hostServiceProcesses({ port: 11434, target: 18434 }, names, rt, () => ({ name: 'nobody', uid: 65534, gid: 65534, home: '/', shell: '' }));
    const sock = 'unix:/run/vpnns/vpn-ns/host-services/11434.sock';
    assert.deepEqual(p.inside, { name: 'host-service-11434', netns: 'vpn-ns', argv: ['/usr/bin/node', rt.script, '--listen', '127.0.0.1:11434', '--target', sock, '--uid', '65534', '--gid', '65534'] });
    assert.deepEqual(p.host, { name: 'host-service-11434-host', argv: ['/usr/bin/node', rt.script, '--listen', sock, '--target', '127.0.0.1:18434', '--uid', '65534', '--gid', '65534'] });
    const c = cfg('hostServices: [11434]');
    assert.deepEqual(hostServiceSpecs(c, namesFor(c)).map((s) => [s.name, s.needsTunnel]), [['host-service-11434-host', false], ['host-service-11434', false]]);
  });
});

test('systemd: both halves are sandboxed forwarders; the host half may change ids and write its socket directory only', () => {
  const c = cfg('namespace: work\nvpn: {type: wireguard, config: /etc/vpnns/wg.conf}\nhostServices: [11434]');
  const n = namesFor(c);
  const units = renderUnits({ cfg: c, names: n, specs: hostServiceSpecs(c, n), configPath: '/etc/vpnns/work.yaml', runtime: { node: '/usr/bin/node', vpnns: '/opt/vpnns/bin/vpnns' } });
  const host = units.find((u) => u.name.endsWith('host-service-11434-host.service'))!.text;
  const inside = units.find((u) => u.name.endsWith('host-service-11434.service'))!.text;
  assert.match(host, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_CHOWN$/m);
  assert.match(host, /^ReadWritePaths=-\/run\/vpnns\/work\/host-services$/m);
  assert.match(host, /^ProtectSystem=strict$/m);
  assert.doesNotMatch(host, /NetworkNamespacePath/);
  assert.match(inside, /^NetworkNamespacePath=\/run\/netns\/work$/m);
  assert.match(inside, /^ProtectHome=read-only$/m);
  assert.doesNotMatch(inside, /ReadWritePaths/);
});

describe('check', () => {
  test('the exceptions are named, a PASS says they exist; a stopped forwarder fails', () => {
    assert.equal(evaluateExceptions({ allow: [], hostServices: [], forwarders: {} }).result, 'skip');
    const pass = evaluateExceptions({ allow: ALLOW.slice(0, 1), hostServices: [{ port: 11434, target: 11434 }], forwarders: { 'host-service-11434': 'running', 'host-service-11434-host': 'running' } });
    assert.equal(pass.result, 'pass');
    assert.equal(pass.reason, '2 exceptions on purpose, outside the tunnel or to the host: allow tcp 192.168.77.2:8080; hostServices 127.0.0.1:11434 inside -> host 127.0.0.1:11434');
    const fail = evaluateExceptions({ allow: [], hostServices: [{ port: 11434, target: 11434 }], forwarders: { 'host-service-11434': 'backoff', 'host-service-11434-host': 'running' } });
    assert.equal(fail.result, 'fail');
    assert.match(fail.reason, /host-service-11434 \(backoff\)/);
  });
  test('the drill counts an exception\'s own flow as allowed, and its other ports as leaks', () => {
    const lines = [
      'IP 10.0.0.2.40000 > 192.168.77.2.8080: Flags [S], seq 1, win 64240, length 0',
      'IP 10.0.0.2.40001 > 192.168.77.2.8081: Flags [S], seq 1, win 64240, length 0',
      'IP 10.0.0.2.40002 > 192.168.77.2.8080: UDP, length 5',
      'IP 10.0.0.2.40003 > 192.168.50.7.53: UDP, length 30',
    ];
    const leaked = leakedPackets(lines, { clientTraffic: [], hostAddr: '10.0.0.1', replyPorts: [], allow: ALLOW });
    assert.deepEqual(leaked, [lines[1], lines[2]]);
    assert.equal(describeAllow(ALLOW[2]!), 'tcp 10.20.0.0/16 (every port)');
  });
});

// Loaded for real in a throwaway namespace: check() must recognise what nft and ip print back.
const NS = `vpnnsut-${randomBytes(4).toString('hex')}`;
const skip = process.getuid?.() !== 0 || spawnSync('nft', ['--version']).status !== 0 ? 'needs root and nft' : false;
const sh = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });

describe('loaded for real', { skip }, () => {
  before(() => {
    assert.equal(sh(['ip', 'netns', 'add', NS]).status, 0);
    assert.equal(sh(['ip', '-n', NS, 'link', 'add', names.vethNs, 'type', 'veth', 'peer', 'name', 'vpnnsut0']).status, 0);
    sh(['ip', '-n', NS, 'addr', 'add', `${names.nsAddr}/30`, 'dev', names.vethNs]);
    sh(['ip', '-n', NS, 'link', 'set', names.vethNs, 'up']);
    sh(['ip', '-n', NS, 'link', 'set', 'vpnnsut0', 'up']);
  });
  after(() => {
    sh(['ip', 'netns', 'delete', NS]);
  });
  const ctx = (allow: AllowConfig[]) => ({
    sys: new System(false),
    names: { ...names, ns: NS },
    cfg: { allow },
    state: { runtime: { clientTraffic: [{ kind: 'mark', mark: 51820 }] } },
  }) as unknown as Context;

  test('kill switch: check() is true for exactly the loaded exceptions', async () => {
    await killSwitchResource.apply(ctx(ALLOW));
    assert.equal(await killSwitchResource.check(ctx(ALLOW)), true);
    assert.equal(await killSwitchResource.check(ctx(ALLOW.slice(0, 2))), false, 'a removed exception must make `up` reload the table');
    assert.equal(await killSwitchResource.check(ctx([...ALLOW, { to: '192.168.9.9', port: 1, proto: 'udp' }])), false);
    await killSwitchResource.remove(ctx([]));
  });
  test('routes: apply, check, a changed list, remove; the route lookup of an exception goes to the veth, its other ports do not', async () => {
    assert.equal(await allowRoutesResource.check(ctx([])), true);
    assert.equal(await allowRoutesResource.check(ctx(ALLOW)), false);
    await allowRoutesResource.apply(ctx(ALLOW));
    assert.equal(await allowRoutesResource.check(ctx(ALLOW)), true);
    assert.equal(await allowRoutesResource.check(ctx(ALLOW.slice(1))), false);
    const get = (dport: string) => sh(['ip', '-n', NS, 'route', 'get', '192.168.77.2', 'ipproto', 'tcp', 'dport', dport]).stdout;
    assert.match(get('8080'), /via 10\.0\.0\.1 dev vn-vpn-ns table 5180/);
    assert.doesNotMatch(get('8081'), /table 5180/);
    await allowRoutesResource.apply(ctx(ALLOW.slice(1)));
    assert.equal(await allowRoutesResource.check(ctx(ALLOW.slice(1))), true);
    assert.equal(await allowRoutesResource.remove(ctx([])), true);
    assert.equal(await allowRoutesResource.check(ctx([])), true);
    assert.equal(await allowRoutesResource.remove(ctx([])), false);
  });
  test('routes: an exception covering a resolved VPN endpoint is refused at apply', async () => {
    const c = { ...ctx([{ to: '198.51.100.0/24', port: 443, proto: 'tcp' }]), state: { runtime: { clientTraffic: [{ kind: 'endpoint', ip: '198.51.100.10', port: 51820, proto: 'udp', sender: { mark: 51820 } }] } } } as unknown as Context;
    await assert.rejects(allowRoutesResource.apply(c), { message: /^allow\[0\]: 198\.51\.100\.0\/24 covers the VPN server 198\.51\.100\.10: .*\.$/, exitCode: 2 } as object);
  });
});

describe('forwarder: Unix socket and privilege drop', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  const script = defaultForwarderRuntime().script;
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vpnnsut-hs-'));
    chmodSync(dir, 0o755);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const start = (args: string[]) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exit = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    return { child, exit, err: () => err };
  };

  test('listens on a 0600 socket given to the uid, drops to it, relays to the one target', async () => {
    const target = net.createServer((s) => s.end('target'));
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const port = (target.address() as net.AddressInfo).port;
    const sock = join(dir, 'a.sock');
    const f = start(['--listen', `unix:${sock}`, '--target', `127.0.0.1:${port}`, '--uid', '65534', '--gid', '65534']);
    try {
      for (let i = 0; i < 100 && !f.err().includes('->'); i++) await new Promise((r) => setTimeout(r, 30));
      assert.match(f.err(), /-> 127\.0\.0\.1:\d+ \(as uid 65534\)/);
      const st = statSync(sock);
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(st.uid, 65534);
      assert.match(readFileSync(`/proc/${f.child.pid}/status`, 'utf8'), /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
      const c = net.connect({ path: sock });
      let got = '';
      c.setEncoding('utf8').on('data', (d: string) => (got += d));
      await once(c, 'close');
      assert.equal(got, 'target');
    } finally {
      f.child.kill('SIGTERM');
      await f.exit;
      target.close();
    }
  });
  test('bad ids are usage errors; something other than a socket at the path is left alone', async () => {
    for (const ids of [['--uid', '65534'], ['--uid', '0', '--gid', '0'], ['--uid', 'x', '--gid', '1']]) {
      const f = start(['--listen', `unix:${join(dir, 'b.sock')}`, '--target', '127.0.0.1:1', ...ids]);
      assert.equal(await f.exit, 2, ids.join(' '));
    }
    const file = join(dir, 'c.sock');
    writeFileSync(file, 'keep');
    const f = start(['--listen', `unix:${file}`, '--target', '127.0.0.1:1']);
    assert.equal(await f.exit, 1);
    assert.match(f.err(), /something other than a socket is there/);
    assert.equal(readFileSync(file, 'utf8'), 'keep');
    const rel = start(['--listen', 'unix:relative.sock', '--target', '127.0.0.1:1']);
    assert.equal(await rel.exit, 2);
  });
});
