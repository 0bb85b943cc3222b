// Ports published `via: kernel` (nftables DNAT in vpnns's host table, no process): the host reaches
// the app through 127.0.0.1, long-lived connections and an app restart are carried, a LAN neighbour
// reaches only what was bound beyond loopback on purpose, and route_localnet (which loopback DNAT
// needs on the host's veth) does not open the host's loopback services to the namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { startHarness, leftovers, type Harness } from './harness.js';
import { curl, curlUntil, longLivedLines, publishConfig, startApp, stopApp } from './publish-fixture.js';
import { namesFor, type Names } from '../../src/core/names.js';

let h: Harness;
let cfg: string;
let app: ChildProcess | undefined;
let names: Names;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type StatusJson = { components: Record<string, unknown>; published: Array<Record<string, string>> };

before(async () => {
  h = await startHarness({ openvpn: false });
  names = namesFor({ namespace: h.ns, network: { subnet: '10.0.0.0/30', ipv6: false } });
  cfg = await publishConfig(h, [
      { host: '127.0.0.1:19100', target: 3000, via: 'kernel' },
      { port: 3001, via: 'kernel' },
      { host: `${h.world.addr.hostLan}:19101`, target: 3000, via: 'kernel' },
    ]);
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /WARNING: publish\[2\] listens on .*:19101, which other machines on the network can reach/);
  app = startApp(h);
  await sleep(500);
});
after(async () => {
  await stopApp(app);
  await h?.cleanup();
});

test('via kernel: the host reaches the app through 127.0.0.1, from the host end of the veth, with no forwarder process', async () => {
  const r = await curlUntil(h, 'http://127.0.0.1:19100/');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'hello from inside 10.0.0.1');
  const s = JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as StatusJson;
  assert.deepEqual(Object.keys(s.components).filter((c) => c.startsWith('forward-')), [], 'the kernel carries it: nothing to supervise');
  assert.deepEqual(s.published[0], { listen: '127.0.0.1:19100', target: '10.0.0.2:3000', via: 'kernel', origin: 'publish[0]' });
  const human = await h.vpnns(['status', '--config', cfg]);
  assert.match(human.stdout, /^published: {2}127\.0\.0\.1:19100 -> 10\.0\.0\.2:3000 \(kernel DNAT, publish\[0\]\)$/m);
  const routeLocalnet = await h.world.inHost(['sysctl', '-n', `net.ipv4.conf.${names.vethHost}.route_localnet`]);
  assert.equal(routeLocalnet.stdout.trim(), '1');
});

test('via kernel: a long-lived connection carries data for seconds', async () => {
  const r = await longLivedLines(h, 3001);
  assert.equal(r.lines, '15', r.stderr);
});

test('via kernel: the app restarting is carried: refused while it is down, answering again after', async () => {
  await stopApp(app);
  await sleep(200);
  assert.notEqual((await curl(h, 'http://127.0.0.1:19100/')).code, 0);
  app = startApp(h);
  const r = await curlUntil(h, 'http://127.0.0.1:19100/');
  assert.equal(r.stdout.trim(), 'hello from inside 10.0.0.1', r.stderr);
});

test('via kernel: a LAN neighbour reaches only the publication bound to the LAN address', async () => {
  for (const [host, port] of [[h.world.addr.hostLan, 19100], [h.world.addr.hostLan, 3001], ['10.0.0.2', 3000]] as const) {
    const p = await h.world.probeTcp(h.world.ns.lan, host, port, 1500);
    assert.notEqual(p, 'open', `${host}:${port}: ${p}`);
  }
  const r = await h.world.inNs(h.world.ns.lan, ['curl', '-sS', '--max-time', '3', `http://${h.world.addr.hostLan}:19101/`], { timeoutMs: 10_000 });
  assert.equal(r.stdout.trim(), 'hello from inside 10.0.0.1', r.stderr);
});

test('via kernel: `vpnns check` finds the published ports answering', async () => {
  const r = await h.vpnns(['check', '--config', cfg, '--json']);
  const published = (JSON.parse(r.stdout) as Array<{ name: string; result: string; reason: string }>).find((c) => c.name === 'published');
  assert.equal(published?.result, 'pass', r.stdout);
  assert.match(published.reason, /3 published ports answer/);
});

test('via kernel: route_localnet does not let the namespace reach the host\'s loopback services', async () => {
  // A service on the host's loopback, and a root process inside doing everything it can to reach
  // it: its own 127/8 route replaced by one through the veth, route_localnet on, the kill switch gone.
  const secret = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, process.execPath, '-e', "require('node:http').createServer((q, s) => s.end('host loopback\\n')).listen(19300, '127.0.0.1')"], { stdio: 'ignore' });
  try {
    await sleep(500);
    assert.equal((await curl(h, 'http://127.0.0.1:19300/')).stdout.trim(), 'host loopback', 'the service answers on the host');
    const { vethNs, hostAddr, nsTable } = names;
    for (const argv of [
      ['sysctl', '-qw', `net.ipv4.conf.${vethNs}.route_localnet=1`],
      ['ip', 'route', 'del', 'local', '127.0.0.1', 'dev', 'lo', 'table', 'local'],
      ['ip', 'route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local'],
      ['ip', 'route', 'add', '127.0.0.1/32', 'via', hostAddr, 'dev', vethNs, 'src', '10.0.0.2'],
      ['nft', 'delete', 'table', 'inet', nsTable],
    ]) {
      const r = await h.inVpn(argv);
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    }
    const dropped = async () => {
      const listed = await h.world.inHost(['nft', 'list', 'chain', 'inet', names.hostTable, 'input']);
      const m = /counter packets (\d+).*route_localnet/.exec(listed.stdout);
      assert.ok(m, listed.stdout);
      return Number(m[1]);
    };
    const before = await dropped();
    const r = await h.inVpn(['curl', '-sS', '--max-time', '2', 'http://127.0.0.1:19300/'], { timeoutMs: 10_000 });
    assert.notEqual(r.code, 0, `reached the host's loopback: ${r.stdout}`);
    // The packets did reach the host, and vpnns's rule is what dropped them.
    assert.ok((await dropped()) > before, 'the input rule counted the attempt');
  } finally {
    secret.kill('SIGKILL');
  }
});

test('via kernel: a host port in use is refused at `up`, and `down` leaves nothing (route_localnet goes with the veth)', async () => {
  const d = await h.vpnns(['down', '--config', cfg]);
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual(await leftovers(h), []);
  const blocker = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, process.execPath, '-e', "require('node:net').createServer().listen(19100, '127.0.0.1')"], { stdio: 'ignore' });
  try {
    await sleep(500);
    const r = await h.vpnns(['up', '--config', cfg]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /port 127\.0\.0\.1:19100 \(publish\[0\]\) is already in use on the host; free it or choose another host port\./);
    assert.deepEqual(await leftovers(h), []);
  } finally {
    blocker.kill('SIGKILL');
  }
});
