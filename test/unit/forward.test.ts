import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { once } from 'node:events';
import { formatHostPort } from '../../src/config/net-utils.js';
import { defaultForwarderRuntime, forwardProcess, requireHostPort } from '../../src/services/forward.js';

const runtime = { node: '/usr/bin/node', script: '/opt/vpnns/dist/src/services/forwarder-main.js' };

test('forwardProcess renders the argv for an IPv4 listen address', () => {
  const spec = forwardProcess({ name: 'forward-8080', listen: { host: '127.0.0.1', port: 8080 }, target: { host: '10.0.0.2', port: 8080 } }, runtime);
  assert.deepEqual(spec, {
    name: 'forward-8080',
    argv: ['/usr/bin/node', '/opt/vpnns/dist/src/services/forwarder-main.js', '--listen', '127.0.0.1:8080', '--target', '10.0.0.2:8080'],
  });
});

test('forwardProcess brackets IPv6 addresses', () => {
  const spec = forwardProcess({ name: 'web', listen: { host: '::1', port: 443 }, target: { host: 'fd10::2', port: 8443 } }, runtime);
  assert.deepEqual(spec.argv.slice(2), ['--listen', '[::1]:443', '--target', '[fd10::2]:8443']);
});

test('the default runtime is this node and the compiled forwarder next to forward.js', () => {
  const rt = defaultForwarderRuntime();
  assert.equal(rt.node, process.execPath);
  assert.match(rt.script, /^\/.*\/services\/forwarder-main\.js$/);
  assert.ok(existsSync(rt.script), `${rt.script} exists`);
});

test('requireHostPort and formatHostPort round-trip and reject bad input', () => {
  for (const text of ['127.0.0.1:8080', '[::1]:65535', '10.0.0.2:1', '[2001:db8::1]:80']) {
    assert.equal(formatHostPort(requireHostPort(text)), text);
  }
  assert.deepEqual(requireHostPort('[::1]:8080'), { host: '::1', port: 8080 });
  for (const bad of ['8080', '127.0.0.1:0', '127.0.0.1:70000', '::1:8080', '[::1]8080', '127.0.0.1:', '']) {
    assert.throws(() => requireHostPort(bad), /expected ADDR:PORT/, bad);
  }
});

// --- the forwarder process itself, on loopback high ports only ---

async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as net.AddressInfo;
  s.close();
  await once(s, 'close');
  return port;
}

interface Forwarder {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function startForwarder(args: string[]): Forwarder {
  const child = spawn(process.execPath, [defaultForwarderRuntime().script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exit };
}

async function startedForwarder(listen: string, target: string): Promise<Forwarder> {
  const f = startForwarder(['--listen', listen, '--target', target]);
  const deadline = Date.now() + 5000;
  while (!f.stderr().includes('->')) {
    if (Date.now() > deadline || f.child.exitCode !== null) throw new Error(`forwarder did not start: ${f.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return f;
}

async function stop(f: Forwarder): Promise<number | null> {
  if (f.child.exitCode === null) f.child.kill('SIGTERM');
  const t = setTimeout(() => f.child.kill('SIGKILL'), 5000);
  const code = await f.exit;
  clearTimeout(t);
  return code;
}

const openSockets = new WeakMap<net.Server, Set<net.Socket>>();

/** Echo server that also answers a half-close with a summary line after the peer's FIN. */
async function startTarget(port: number, host = '127.0.0.1'): Promise<net.Server> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    let received = 0;
    sock.on('data', (d: Buffer) => {
      received += d.length;
      sock.write(d);
    });
    sock.on('end', () => {
      // The reverse direction must still work after the client's FIN.
      setTimeout(() => sock.end(`bye after ${received}\n`), 50);
    });
    sock.on('error', () => sock.destroy());
  });
  openSockets.set(server, sockets);
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

async function closeServer(server: net.Server): Promise<void> {
  for (const s of openSockets.get(server) ?? []) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
}

/** Connects, sends `payload`, half-closes, and collects everything until the peer closes. */
function exchange(port: number, payload: Buffer, host = '127.0.0.1'): Promise<{ data: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    sock.on('connect', () => sock.end(payload));
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', (err: NodeJS.ErrnoException) => resolve({ data: Buffer.concat(chunks), error: err.code ?? err.message }));
    sock.on('end', () => resolve({ data: Buffer.concat(chunks) }));
  });
}

test('forwarder relays data both ways and carries a half-close', async () => {
  const [listenPort, targetPort] = [await freePort(), await freePort()];
  const target = await startTarget(targetPort);
  const f = await startedForwarder(`127.0.0.1:${listenPort}`, `127.0.0.1:${targetPort}`);
  try {
    const payload = Buffer.alloc(3 * 1024 * 1024, 7);
    const { data, error } = await exchange(listenPort, payload);
    assert.equal(error, undefined);
    assert.equal(data.length, payload.length + `bye after ${payload.length}\n`.length);
    assert.ok(data.subarray(0, payload.length).equals(payload), 'echoed bytes are intact');
    assert.equal(data.subarray(payload.length).toString(), `bye after ${payload.length}\n`);
  } finally {
    assert.equal(await stop(f), 0);
    await closeServer(target);
  }
});

test('forwarder closes connections while the target is down and works again once it is back', async () => {
  const [listenPort, targetPort] = [await freePort(), await freePort()];
  const f = await startedForwarder(`127.0.0.1:${listenPort}`, `127.0.0.1:${targetPort}`);
  try {
    const down = await exchange(listenPort, Buffer.from('hello'));
    assert.equal(down.data.length, 0);
    assert.equal(down.error, 'ECONNRESET');
    assert.equal(f.child.exitCode, null, 'the forwarder keeps running');
    assert.match(f.stderr(), /target 127\.0\.0\.1:\d+ unreachable \(ECONNREFUSED\)/);

    const target = await startTarget(targetPort);
    try {
      const up = await exchange(listenPort, Buffer.from('hello'));
      assert.equal(up.data.toString(), 'hellobye after 5\n');
    } finally {
      await closeServer(target);
    }
    const again = await exchange(listenPort, Buffer.from('x'));
    assert.equal(again.error, 'ECONNRESET');
  } finally {
    assert.equal(await stop(f), 0);
  }
});

test('forwarder exits 1 with one clear line when the listen port is in use', async () => {
  const blocker = net.createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  const { port } = blocker.address() as net.AddressInfo;
  try {
    const f = startForwarder(['--listen', `127.0.0.1:${port}`, '--target', '127.0.0.1:9']);
    assert.equal(await f.exit, 1);
    assert.equal(f.stderr(), `forwarder: port 127.0.0.1:${port} is already in use; free it or choose another host port in publish\n`);
  } finally {
    blocker.close();
  }
});

test('forwarder exits 2 on bad usage', async () => {
  const f = startForwarder(['--listen', '127.0.0.1']);
  assert.equal(await f.exit, 2);
  assert.match(f.stderr(), /^forwarder: .*usage: forwarder-main\.js --listen ADDR:PORT --target ADDR:PORT\n$/);
});

test('SIGTERM stops listening at once and lets an open connection finish', async () => {
  const [listenPort, targetPort] = [await freePort(), await freePort()];
  const target = await startTarget(targetPort);
  const f = await startedForwarder(`127.0.0.1:${listenPort}`, `127.0.0.1:${targetPort}`);
  try {
    const sock = net.connect({ port: listenPort, host: '127.0.0.1', allowHalfOpen: true });
    await once(sock, 'connect');
    sock.write('ping');
    await once(sock, 'data');
    f.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    // New connections are refused while the old one still works.
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ port: listenPort, host: '127.0.0.1' });
      s.on('connect', () => resolve('connected'));
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');
    sock.write('pong');
    const [echoed] = (await once(sock, 'data')) as [Buffer];
    assert.equal(echoed.toString(), 'pong');
    sock.end();
    const started = Date.now();
    assert.equal(await f.exit, 0);
    assert.ok(Date.now() - started < 1500, 'exits as soon as the last connection is done');
  } finally {
    await stop(f);
    await closeServer(target);
  }
});

test('forwarder listens on a bracketed IPv6 loopback address', async (t) => {
  const probe = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(0, '::1', () => resolve(true));
  });
  const listenPort = ok ? (probe.address() as net.AddressInfo).port : 0;
  probe.close();
  if (!ok) return t.skip('::1 is not available here');
  const targetPort = await freePort();
  const target = await startTarget(targetPort);
  const f = await startedForwarder(`[::1]:${listenPort}`, `127.0.0.1:${targetPort}`);
  try {
    const { data } = await exchange(listenPort, Buffer.from('v6'), '::1');
    assert.equal(data.toString(), 'v6bye after 2\n');
  } finally {
    assert.equal(await stop(f), 0);
    await closeServer(target);
  }
});
