// The two holes a config may punch on purpose (issue 18), in one world with WireGuard:
// - `allow`: a LAN neighbour's one TCP port is reached over the veth (and forwarded by the host despite
//   a FORWARD drop policy of another table), not the tunnel; its other
//   port, the same port on another LAN address and DNS to it are not, and a capture on the host end
//   of the veth sees only the allowed flow.
// - `hostServices`: a real HTTP server on the host's 127.0.0.1 answers inside at 127.0.0.1:PORT;
//   a second one on the host's loopback (and one on all of the host's addresses) stays unreachable,
//   the forwarders run as nobody, and their socket is refused to any other user.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { startHarness, leftovers, type Harness } from './harness.js';
import { ifName } from '../../src/core/names.js';

let h: Harness;
let cfg: string;
const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const LAN2 = '192.168.77.3'; // a second address of the LAN neighbour
const ALLOWED = 8080; // on the neighbour's first address: the exception
const OTHER = 8081; // on the same address: not an exception
const INSIDE = 11434; // 127.0.0.1 inside -> the host's 127.0.0.1:HOST_SVC
const HOST_SVC = 18434;
const HOST_OTHER = 18435; // also on the host's 127.0.0.1: must stay unreachable
const HOST_ANY = 18436; // on 0.0.0.0 in the host namespace: 10.0.0.1 among others
const SERVER = `require('http').createServer((q, s) => s.end(process.argv[3])).listen(Number(process.argv[2]), process.argv[1])`;

function serve(argvPrefix: string[], host: string, port: number, body: string): void {
  const [cmd, ...args] = [...argvPrefix, process.execPath, '-e', SERVER, host, String(port), body];
  children.push(spawn(cmd!, args, { stdio: 'ignore' }));
}
const inLan = () => ['ip', 'netns', 'exec', h.world.ns.lan];
const inHostNs = () => ['nsenter', `--net=/run/netns/${h.world.ns.host}`, '--'];
const curlInside = (url: string) => h.inVpn(['curl', '-sS', '--max-time', '3', url], { timeoutMs: 10_000 });

interface St {
  components: Record<string, { state: string; pid?: number }>;
  exceptions: Array<{ text: string }>;
  hostServices: Array<{ port: number; target: number; text: string }>;
}
const statusJson = async () => JSON.parse((await h.vpnns(['status', '--config', cfg, '--json', '--no-probe'])).stdout) as St;

before(async () => {
  // A FORWARD policy of drop in another table, as Docker or ufw leave it: the exception must still be forwarded.
  h = await startHarness({ openvpn: false, hostForwardDrop: true });
  const w = h.world;
  await w.inNs(w.ns.lan, ['ip', 'addr', 'add', `${LAN2}/24`, 'dev', 'eth0']);
  serve(inLan(), w.addr.lanNeighbour, ALLOWED, 'lan-allowed');
  serve(inLan(), w.addr.lanNeighbour, OTHER, 'lan-other');
  serve(inLan(), LAN2, ALLOWED, 'lan2');
  serve(inHostNs(), '127.0.0.1', HOST_SVC, 'host-service');
  serve(inHostNs(), '127.0.0.1', HOST_OTHER, 'host-other');
  serve(inHostNs(), '0.0.0.0', HOST_ANY, 'host-any');
  const file = await w.wireguard!.writeClientConfig();
  const base = { vpn: { type: 'wireguard', config: file, connectTimeout: 10 }, supervisor: { probeInterval: 0 } };

  // An exception covering the VPN server is refused at `up` (the endpoint is known only then), with nothing left behind.
  const bad = h.config({ ...base, allow: [{ to: `${w.addr.vpnPublic}/32`, port: 443 }] });
  const refused = await h.vpnns(['up', '--config', bad]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /allow\[0\]: .* covers the VPN server 198\.51\.100\.10: only the VPN client may talk to it/);
  assert.deepEqual(await leftovers(h), []);

  cfg = h.config({
    ...base,
    allow: [{ to: w.addr.lanNeighbour, port: ALLOWED, proto: 'tcp' }],
    hostServices: [{ port: INSIDE, target: HOST_SVC }],
  });
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const s = await statusJson();
    const names = ['vpn', `host-service-${INSIDE}`, `host-service-${INSIDE}-host`];
    if (names.every((n) => s.components[n]?.state === 'running')) break;
    if (Date.now() > deadline) throw new Error(`not running: ${JSON.stringify(s.components)}`);
    await sleep(200);
  }
  for (let i = 0; i < 50; i++) {
    const a = await w.inHost(['curl', '-sS', '--max-time', '1', `http://127.0.0.1:${HOST_SVC}/`]);
    const b = await w.inNs(w.ns.lan, ['curl', '-sS', '--max-time', '1', `http://${LAN2}:${ALLOWED}/`]);
    if (a.stdout === 'host-service' && b.stdout === 'lan2') return;
    await sleep(100);
  }
  throw new Error('the test listeners did not start');
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await h?.cleanup();
});

test('allow: only the listed port of the listed address leaves over the veth; the capture sees that flow alone', async () => {
  const w = h.world;
  const veth = ifName('vh-', h.ns);
  // Everything the namespace sends on the host end of the link, except the tunnel itself.
  const cap = await w.capture(w.ns.host, veth, `ip and src host 10.0.0.2 and not (udp and dst host ${w.addr.vpnPublic})`);
  const ok = await curlInside(`http://${w.addr.lanNeighbour}:${ALLOWED}/`);
  const other = await curlInside(`http://${w.addr.lanNeighbour}:${OTHER}/`);
  const lan2 = await curlInside(`http://${LAN2}:${ALLOWED}/`);
  // DNS to the allowed address is not an exception: it goes into the tunnel (and dies there).
  const dns = await h.inVpn([process.execPath, '-e', `const s=require('dgram').createSocket('udp4');s.send(Buffer.from('vpnnsprobe'),53,'${w.addr.lanNeighbour}',()=>s.close())`]);
  const lines = await cap.stop();
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'lan-allowed');
  assert.notEqual(other.code, 0, `another port of the allowed address answered: ${other.stdout}`);
  assert.notEqual(lan2.code, 0, `the allowed port of another address answered: ${lan2.stdout}`);
  assert.equal(dns.code, 0, dns.stderr);
  assert.ok(lines.length > 0, 'the allowed flow was not seen on the veth');
  const flow = new RegExp(`^\\S+ IP 10\\.0\\.0\\.2\\.\\d+ > ${w.addr.lanNeighbour.replaceAll('.', '\\.')}\\.${ALLOWED}: Flags`);
  assert.deepEqual(lines.filter((l) => !flow.test(l)), [], 'only the allowed flow may leave over the veth');
});

test('hostServices: the host loopback service answers inside at 127.0.0.1; the other host ports do not', async () => {
  const ok = await curlInside(`http://127.0.0.1:${INSIDE}/`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'host-service');
  for (const url of [`http://127.0.0.1:${HOST_OTHER}/`, `http://127.0.0.1:${HOST_SVC}/`, `http://10.0.0.1:${HOST_OTHER}/`, `http://10.0.0.1:${HOST_ANY}/`]) {
    const r = await curlInside(url);
    assert.notEqual(r.code, 0, `${url} answered inside: ${r.stdout}`);
  }
});

test('hostServices: both forwarders run as nobody (non-dumpable), and their socket is refused to any other user', async () => {
  const s = await statusJson();
  for (const name of [`host-service-${INSIDE}`, `host-service-${INSIDE}-host`]) {
    const pid = s.components[name]?.pid;
    assert.ok(pid, `${name} has no pid`);
    // The supervisor's pid is the wrapper's (ip netns exec execs; node is the same process).
    const status = (await h.world.inHost(['cat', `/proc/${pid}/status`])).stdout;
    assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m, `${name} is not nobody: ${status.split('\n').find((l) => l.startsWith('Uid'))}`);
    // Dropped by setuid() in the process, not by a wrapper before exec: the kernel marks it
    // non-dumpable (its /proc entry stays root's), so the proxies, also nobody, cannot ptrace it.
    assert.equal((await h.world.inHost(['stat', '-c', '%u', `/proc/${pid}/mem`])).stdout.trim(), '0', `${name} is dumpable`);
    const peek = await h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'cat', `/proc/${pid}/environ`]);
    assert.notEqual(peek.code, 0, `another nobody process read ${name}'s environment`);
  }
  const sock = `/run/vpnns/${h.ns}/host-services/${INSIDE}.sock`;
  const st = (await h.world.inHost(['stat', '-c', '%a %u %F', sock])).stdout.trim();
  assert.equal(st, '600 65534 socket');
  const connect = `require('net').connect({path:process.argv[1]}).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',(e)=>{console.log(e.code);process.exit(1)})`;
  const other = await h.inVpn(['setpriv', '--reuid=12345', '--regid=12345', '--clear-groups', process.execPath, '-e', connect, sock]);
  assert.equal(other.stdout.trim(), 'EACCES');
});

test('status and check list the exceptions; check still passes and says they exist', async () => {
  const s = await statusJson();
  assert.deepEqual(s.exceptions.map((e) => e.text), [`tcp ${h.world.addr.lanNeighbour}:${ALLOWED}`]);
  assert.deepEqual(s.hostServices.map((x) => [x.port, x.target]), [[INSIDE, HOST_SVC]]);
  const human = (await h.vpnns(['status', '--config', cfg, '--no-probe'])).stdout;
  assert.match(human, /^exception: +tcp 192\.168\.77\.2:8080 leaves around the VPN \(allow\)$/m);
  assert.match(human, /^host svc: +127\.0\.0\.1:11434 inside -> host 127\.0\.0\.1:18434 \(hostServices\)$/m);
  const r = await h.vpnns(['check', '--config', cfg, '--json'], { timeoutMs: 120_000 });
  const checks = JSON.parse(r.stdout) as Array<{ name: string; result: string; reason: string }>;
  assert.equal(r.code, 0, JSON.stringify(checks.filter((c) => c.result !== 'pass' && c.result !== 'skip')));
  const ex = checks.find((c) => c.name === 'exceptions');
  assert.equal(ex?.result, 'pass');
  assert.match(ex!.reason, /2 exceptions on purpose.*allow tcp 192\.168\.77\.2:8080.*hostServices 127\.0\.0\.1:11434 inside -> host 127\.0\.0\.1:18434/);
});

test('down removes the exception rules and the host-service forwarders with everything else', async () => {
  const r = await h.vpnns(['down', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await leftovers(h), []);
  const ps = (await h.world.inHost(['ps', '-eo', 'args'])).stdout;
  assert.doesNotMatch(ps, new RegExp(`host-services/${INSIDE}\\.sock`));
});
