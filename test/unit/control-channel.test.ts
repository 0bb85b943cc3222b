// Both ends of the control socket against the worst the other end can do. The CLI's side: a
// supervisor that takes the connection and never answers, answers garbage, an endless line, or
// hangs up, is one sentence each (and a ping that was never answered says nothing changed; a
// request answered late says it may have been acted on). The supervisor's side: connections left
// open and silent never lock the CLI out, while requests in flight keep their answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ask, request, SupervisorSilent } from '../../src/supervisor/control-client.js';
import { controlSocketPath } from '../../src/supervisor/control-protocol.js';
import { MAX_CONNECTIONS, serveControl } from '../../src/supervisor/control-server.js';

async function tmpNames() {
  const dir = await mkdtemp(join(tmpdir(), 'vpnns-ctl-'));
  return { dir, names: { stateDir: dir, ns: 'vtctl' } };
}

/** A stand-in supervisor on the socket: `onLine` decides what each request line gets. */
const servers = new Set<Server>();

function fakeSupervisor(path: string, onLine: (line: string, sock: Socket) => void, onConnect?: (sock: Socket) => void): Promise<Server> {
  const server = createServer((sock) => {
    let buf = '';
    sock.on('error', () => {});
    onConnect?.(sock);
    sock.on('data', (d) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i), sock);
        buf = buf.slice(i + 1);
      }
    });
  });
  servers.add(server);
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

const close = (s: Server) => {
  servers.delete(s);
  return new Promise<void>((r) => s.close(() => r()));
};

test('the CLI side: silent, garbage, endless and hung-up supervisors are one sentence each; none is a hang', async () => {
  const { dir, names } = await tmpNames();
  const path = controlSocketPath(names);
  const held: Socket[] = [];
  try {
    let server = await fakeSupervisor(path, () => {}, (s) => held.push(s));
    const silent = await request(names, { op: 'ping' }, 300).then(() => undefined, (e: Error) => e);
    assert.ok(silent instanceof SupervisorSilent);
    assert.match(silent.message, /^the supervisor of vtctl did not answer within 0 s; nothing was changed; see `vpnns logs supervisor`, and if it stays silent, `sudo vpnns down` then `sudo vpnns up` start it over\.$/);
    await close(server);
    for (const s of held) s.destroy();

    // Answers the ping, then sits on the request: it may have acted, and the sentence says so.
    server = await fakeSupervisor(path, (line, sock) => {
      if (JSON.parse(line).op === 'ping') sock.write('{"id":1,"ok":true,"result":{}}\n');
      else held.push(sock);
    });
    const late = await ask(names, 'app.stop', { service: 'app-x', waitMs: 0 }, 300).then(() => undefined, (e: Error) => e);
    assert.ok(late instanceof SupervisorSilent);
    assert.match(late.message, /took the request \(app\.stop\) but did not answer within 0 s, so it may have done part of it; see `vpnns status`/);
    assert.doesNotMatch(late.message, /nothing was changed/);
    for (const s of held) s.destroy();
    await close(server);

    server = await fakeSupervisor(path, (_l, sock) => sock.write('<html>hello</html>\n'));
    await assert.rejects(request(names, { op: 'ping' }, 5000), { message: 'the supervisor of vtctl sent an answer that is not JSON.' });
    await close(server);

    // An answer that never ends: cut off, not read without end.
    server = await fakeSupervisor(path, (_l, sock) => {
      const chunk = 'x'.repeat(64 * 1024);
      const pump = () => {
        while (!sock.destroyed && sock.write(chunk));
        if (!sock.destroyed) sock.once('drain', pump);
      };
      pump();
    });
    await assert.rejects(request(names, { op: 'ping' }, 10_000), /sent an answer that is too long\./);
    await close(server);

    server = await fakeSupervisor(path, (_l, sock) => sock.destroy());
    await assert.rejects(request(names, { op: 'ping' }, 5000), /closed the connection without an answer/);
    await close(server);

    await assert.rejects(request(names, { op: 'ping' }, 5000), /is not running; run `sudo vpnns up`/);
  } finally {
    for (const s of held) s.destroy();
    // A failed assertion above must not leave a server holding the test file open.
    for (const s of servers) s.close();
    servers.clear();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the supervisor side: connections left open and silent give way to a new one; requests in flight keep theirs', async () => {
  const { dir, names } = await tmpNames();
  const path = controlSocketPath(names);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const server = await serveControl(path, async (req) => {
    if (req.op === 'status') await gate;
    return { pid: process.pid };
  });
  const idle: Socket[] = [];
  try {
    // Every slot taken by a client that connects and sends nothing (or half a line).
    for (let i = 0; i < MAX_CONNECTIONS + 4; i++) {
      const s = connect(path);
      s.on('error', () => {});
      if (i % 2) s.write('{"op":"pi');
      idle.push(s);
    }
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await request<{ pid: number }>(names, { op: 'ping' })).pid, process.pid, 'served despite the idle ones');

    // Requests in flight are never the ones to give way: with every slot holding one (the idle ones
    // made room for them), one more connection is refused, and all of them get their answer.
    await new Promise((r) => setTimeout(r, 500));
    const inFlight = Array.from({ length: MAX_CONNECTIONS }, () => request<{ pid: number }>(names, { op: 'status' }, 30_000));
    await new Promise((r) => setTimeout(r, 1500));
    const extra = await request(names, { op: 'ping' }, 5000).then(() => 'answered', (e: Error) => e.message);
    release();
    for (const r of await Promise.all(inFlight)) assert.equal(r.pid, process.pid);
    assert.match(String(extra), /closed the connection without an answer|cannot reach/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await request<{ pid: number }>(names, { op: 'ping' })).pid, process.pid);
  } finally {
    release();
    for (const s of idle) s.destroy();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
