// Published ports: a host address forwards into the namespace, carries long-lived connections,
// survives the app behind it restarting, is loopback-only unless written otherwise, and a port
// already taken on the host is a clear error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { startHarness, leftovers, type Harness } from './harness.js';
import { curl, curlUntil, longLivedLines, publishConfig, startApp, stopApp } from './publish-fixture.js';

let h: Harness;
let cfg: string;
let app: ChildProcess | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


before(async () => {
  h = await startHarness({ openvpn: false });
  cfg = await publishConfig(h, [{ host: '127.0.0.1:19000', target: 3000 }, { port: 3001 }]);
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  app = startApp(h);
  await sleep(500);
});
after(async () => {
  await stopApp(app);
  await h?.cleanup();
});


test('the host reaches the app inside through 127.0.0.1 (host port and target may differ)', async () => {
  const r = await curlUntil(h, 'http://127.0.0.1:19000/');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'hello from inside 10.0.0.1');
});

test('a long-lived connection through the forward carries data for seconds', async () => {
  const r = await longLivedLines(h, 3001);
  assert.equal(r.lines, '15', r.stderr);
});

test('the forward survives the app restarting: closed while it is down, working again after', async () => {
  await stopApp(app);
  await sleep(200);
  const down = await curl(h, 'http://127.0.0.1:19000/');
  assert.notEqual(down.code, 0, 'no app: the connection is closed');
  app = startApp(h);
  const r = await curlUntil(h, 'http://127.0.0.1:19000/');
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as { components: Record<string, { restarts: number; state: string }> };
  assert.equal(s.components['forward-19000']?.restarts, 0, 'the forwarder itself did not need a restart');
});

test('the default publication on 127.0.0.1 is carried by the kernel: with its forwarder stopped, requests and a long-lived connection still go through, and the forwarder still holds the port', async () => {
  const s = JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as { components: Record<string, { pid?: number }> };
  const pids = ['forward-19000', 'forward-3001'].map((n) => s.components[n]?.pid);
  assert.ok(pids.every((p) => typeof p === 'number'), JSON.stringify(s.components));
  for (const p of pids) process.kill(p!, 'SIGSTOP');
  try {
    const r = await curl(h, 'http://127.0.0.1:19000/');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'hello from inside 10.0.0.1', 'from the host end of the veth, as through the forwarder');
    assert.equal((await longLivedLines(h, 3001)).lines, '15');
    const taken = await h.world.inHost([process.execPath, '-e', "require('node:net').createServer().on('error', (e) => { console.log(e.code); process.exit(0); }).listen(19000, '127.0.0.1', () => { console.log('free'); process.exit(0); })"]);
    assert.equal(taken.stdout.trim(), 'EADDRINUSE', 'no other program can take the published port');
  } finally {
    for (const p of pids) process.kill(p!, 'SIGCONT');
  }
});

test('a LAN neighbour cannot reach published ports (loopback by default)', async () => {
  for (const [host, port] of [[h.world.addr.hostLan, 19000], [h.world.addr.hostLan, 3001], ['10.0.0.2', 3000]] as const) {
    const p = await h.world.probeTcp(h.world.ns.lan, host, port, 1500);
    assert.notEqual(p, 'open', `${host}:${port}: ${p}`);
  }
});

test('`up` with a changed config applies it: a publication added while up answers after the next `up`', async () => {
  const more = await publishConfig(h, [{ host: '127.0.0.1:19000', target: 3000 }, { port: 3001 }, { host: '127.0.0.1:19002', target: 3000 }]);
  const r = await h.vpnns(['up', '--config', more]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^made supervisor/m, 'the supervisor was restarted with the new config');
  const c = await curlUntil(h, 'http://127.0.0.1:19002/');
  assert.equal(c.stdout.trim(), 'hello from inside 10.0.0.1');
  const again = await h.vpnns(['up', '--config', more]);
  assert.match(again.stdout, /nothing changed/);
  cfg = more;
});

test('a bind beyond loopback must be written out and is warned about', async () => {
  const file = h.config({ vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() }, publish: [{ host: '0.0.0.0:19500', target: 3000 }] }, `${h.world.dir}/exposed.yaml`);
  const r = await h.vpnns(['up', '--config', file, '--dry-run']);
  assert.match(r.stderr, /WARNING: publish\[0\] listens on 0\.0\.0\.0:19500, which other machines on the network can reach/);
});

test('a host port already in use: one sentence, exit 2, nothing made', async () => {
  await h.vpnns(['down', '--config', cfg]);
  const blocker = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, process.execPath, '-e', "require('node:net').createServer().listen(19000, '127.0.0.1')"], { stdio: 'ignore' });
  try {
    await sleep(500);
    const r = await h.vpnns(['up', '--config', cfg]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /port 127\.0\.0\.1:19000 \(publish\[0\]\) is already in use on the host; free it or choose another host port\./);
    assert.deepEqual(await leftovers(h), []);
  } finally {
    blocker.kill('SIGKILL');
  }
});
