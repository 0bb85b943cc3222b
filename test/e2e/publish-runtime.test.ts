// `vpnns publish add|remove|list` on a running namespace: a port added at run time answers at once
// (forwarder or kernel), is listed with where it came from, goes away on remove, survives a restart
// of the supervisor, and every mistake is one sentence with nothing changed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { startHarness, leftovers, type Harness } from './harness.js';
import { curl, curlUntil, publishConfig, startApp, stopApp } from './publish-fixture.js';

let h: Harness;
let cfg: string;
let app: ChildProcess | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Row = { listen: string; target: string; via: string; origin: string; state: string };
const list = async (): Promise<Row[]> => JSON.parse((await h.vpnns(['publish', 'list', '--config', cfg, '--json'])).stdout) as Row[];
const status = async () => JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as { components: Record<string, { pid?: number }>; supervisor?: { pid: number } };

before(async () => {
  h = await startHarness({ openvpn: false });
  cfg = await publishConfig(h, [{ host: '127.0.0.1:19400', target: 3000 }]);
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  app = startApp(h);
  await sleep(500);
});
after(async () => {
  await stopApp(app);
  await h?.cleanup();
});

test('publish add: a forwarder and a kernel publication answer as soon as the command returns', async () => {
  const f = await h.vpnns(['publish', 'add', '3000', '--host', '127.0.0.1:19401', '--config', cfg]);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout, /^published 127\.0\.0\.1:19401 -> 10\.0\.0\.2:3000 \(forwarder\) until `vpnns down`\.$/m);
  assert.equal((await curl(h, 'http://127.0.0.1:19401/')).stdout.trim(), 'hello from inside 10.0.0.1');
  const k = await h.vpnns(['publish', 'add', '3000', '--host', '127.0.0.1:19402', '--via', 'kernel', '--config', cfg]);
  assert.equal(k.code, 0, k.stderr);
  assert.equal((await curl(h, 'http://127.0.0.1:19402/')).stdout.trim(), 'hello from inside 10.0.0.1');
  assert.equal((await curl(h, 'http://127.0.0.1:19400/')).stdout.trim(), 'hello from inside 10.0.0.1', 'the config\'s own publication is untouched');
});

test('publish list: config and added ports, with how they are carried and where they came from', async () => {
  const rows = await list();
  assert.deepEqual(rows.map((r) => [r.listen, r.target, r.via, r.origin, r.state]), [
    ['127.0.0.1:19400', '10.0.0.2:3000', 'forwarder', 'publish[0]', 'running'],
    ['127.0.0.1:19401', '10.0.0.2:3000', 'forwarder', '`vpnns publish add`', 'running'],
    ['127.0.0.1:19402', '10.0.0.2:3000', 'kernel', '`vpnns publish add`', 'active'],
  ]);
  const human = await h.vpnns(['publish', 'list', '--config', cfg]);
  assert.match(human.stdout, /^127\.0\.0\.1:19402 +10\.0\.0\.2:3000 +kernel +active +`vpnns publish add`$/m);
});

test('publish add: mistakes are one sentence, exit 2, and change nothing', async () => {
  const before = await list();
  const cases: Array<[string[], RegExp]> = [
    [['3000', '--host', '127.0.0.1:19400'], /^vpnns: 127\.0\.0\.1:19400 is already published \(publish\[0\], to 10\.0\.0\.2:3000\); remove it first or choose another host port\.$/m],
    [['3000', '--host', '[::1]:19403', '--via', 'kernel'], /^vpnns: --host: via: kernel publishes IPv4 addresses only .*use 127\.0\.0\.1 or via: forwarder\.$/m],
    [['3000', '--via', 'nat'], /^vpnns: --via: expected one of/m],
    [['3000', '--host', 'localhost:80'], /^vpnns: --host: expected ADDR:PORT/m],
    [['http'], /^vpnns: which namespace port\?/m],
  ];
  for (const [argv, re] of cases) {
    const r = await h.vpnns(['publish', 'add', ...argv, '--config', cfg]);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, argv.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // A host port some other program holds.
  const blocker = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, process.execPath, '-e', "require('node:net').createServer().listen(19404, '127.0.0.1')"], { stdio: 'ignore' });
  try {
    await sleep(500);
    const r = await h.vpnns(['publish', 'add', '3000', '--host', '127.0.0.1:19404', '--config', cfg]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^vpnns: port 127\.0\.0\.1:19404 is already in use on the host; free it or choose another host port\.$/m);
  } finally {
    blocker.kill('SIGKILL');
  }
  const dry = await h.vpnns(['publish', 'add', '3000', '--host', '127.0.0.1:19406', '--via', 'kernel', '--dry-run', '--config', cfg]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^would publish 127\.0\.0\.1:19406 -> 10\.0\.0\.2:3000 \(kernel DNAT\) until `vpnns down`; nothing changed \(--dry-run\)\.$/m);
  assert.notEqual((await curl(h, 'http://127.0.0.1:19406/')).code, 0, 'a dry run publishes nothing');
  const rm = await h.vpnns(['publish', 'remove', '19400', '--config', cfg]);
  assert.equal(rm.code, 2);
  assert.match(rm.stderr, /127\.0\.0\.1:19400 comes from the config \(publish\[0\]\); remove it there and run `sudo vpnns up`\./);
  assert.deepEqual(await list(), before);
});

test('the added ports survive a restart of the supervisor', async () => {
  const sup = (await status()).supervisor!.pid;
  process.kill(-sup, 'SIGKILL');
  await sleep(300);
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const c = await curlUntil(h, 'http://127.0.0.1:19401/');
  assert.equal(c.stdout.trim(), 'hello from inside 10.0.0.1', c.stderr);
  assert.equal((await curl(h, 'http://127.0.0.1:19402/')).stdout.trim(), 'hello from inside 10.0.0.1');
  const again = await h.vpnns(['up', '--config', cfg]);
  assert.match(again.stdout, /nothing changed/, 'the kernel publication is part of what `up` expects');
});

test('publish remove: the port stops answering, its forwarder leaves the status, the rest keeps working', async () => {
  for (const port of ['19401', '127.0.0.1:19402']) {
    const r = await h.vpnns(['publish', 'remove', port, '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.notEqual((await curl(h, 'http://127.0.0.1:19401/')).code, 0);
  assert.notEqual((await curl(h, 'http://127.0.0.1:19402/')).code, 0);
  assert.equal((await curl(h, 'http://127.0.0.1:19400/')).stdout.trim(), 'hello from inside 10.0.0.1');
  assert.deepEqual(Object.keys((await status()).components).filter((c) => c.startsWith('forward-')), ['forward-19400']);
  assert.deepEqual((await list()).map((r) => r.listen), ['127.0.0.1:19400']);
  const gone = await h.vpnns(['publish', 'remove', '19401', '--config', cfg]);
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /127\.0\.0\.1:19401 is not published; `vpnns publish list` shows what is\./);
});

test('publish add: a forwarder port published before its app listens, one on [::1] (relayed by the forwarder) and one via: relay, all answer', async () => {
  // The fast path sends a connect from the host on to the app: the command must not wait for the app.
  const early = await h.vpnns(['publish', 'add', '3002', '--host', '127.0.0.1:19407', '--config', cfg]);
  assert.equal(early.code, 0, early.stderr);
  assert.notEqual((await curl(h, 'http://127.0.0.1:19407/')).code, 0, 'nothing listens on 3002 inside yet');
  const late = spawn('ip', ['netns', 'exec', h.ns, process.execPath, '-e', "require('node:http').createServer((q, s) => s.end('late app\\n')).listen(3002, '10.0.0.2')"], { stdio: 'ignore' });
  try {
    assert.equal((await curlUntil(h, 'http://127.0.0.1:19407/')).stdout.trim(), 'late app');
    const v6 = await h.vpnns(['publish', 'add', '3000', '--host', '[::1]:19408', '--config', cfg]);
    assert.equal(v6.code, 0, v6.stderr);
    const r = await h.world.inHost(['curl', '-sS', '-g', '--max-time', '3', 'http://[::1]:19408/'], { timeoutMs: 10_000 });
    assert.equal(r.stdout.trim(), 'hello from inside 10.0.0.1', r.stderr);
    // The old default, on request: the process relays every connection.
    const relay = await h.vpnns(['publish', 'add', '3000', '--host', '127.0.0.1:19409', '--via', 'relay', '--config', cfg]);
    assert.equal(relay.code, 0, relay.stderr);
    assert.match(relay.stdout, /^published 127\.0\.0\.1:19409 -> 10\.0\.0\.2:3000 \(forwarder, relay only\) until `vpnns down`\.$/m);
    assert.equal((await curl(h, 'http://127.0.0.1:19409/')).stdout.trim(), 'hello from inside 10.0.0.1');
    assert.deepEqual((await list()).filter((r) => r.listen === '127.0.0.1:19409').map((r) => [r.via, r.state]), [['relay', 'running']]);
  } finally {
    late.kill('SIGKILL');
    for (const host of ['127.0.0.1:19407', '[::1]:19408', '127.0.0.1:19409']) await h.vpnns(['publish', 'remove', host, '--config', cfg]);
  }
  assert.deepEqual((await list()).map((r) => r.listen), ['127.0.0.1:19400']);
});

test('down forgets added ports and leaves nothing', async () => {
  assert.equal((await h.vpnns(['publish', 'add', '3000', '--host', '127.0.0.1:19405', '--via', 'kernel', '--config', cfg])).code, 0);
  const d = await h.vpnns(['down', '--config', cfg]);
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual(await leftovers(h), []);
  const r = await h.vpnns(['publish', 'add', '3000', '--config', cfg]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /is not up; run `sudo vpnns up` first\./);
});
