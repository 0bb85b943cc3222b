// A tiny TCP load tool that benchmarks run inside namespaces (`ip netns exec NS node tcp-tool.js ...`).
// Every loop is bounded by a count or a deadline; each command prints one JSON line.
//   echo --listen HOST:PORT                                   echo server (prints "listening")
//   rr   --target HOST:PORT --count N [--size B] [--new-conn] sequential request/reply latency
//   hold --target HOST:PORT --conns N --seconds S [--interval-ms I] [--serve-timeout-ms T]
//        N long-lived connections with pings; reports how long until every one got a first reply
import * as net from 'node:net';
import { parseArgs } from 'node:util';

function hostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s);
  if (!m) throw new Error(`expected HOST:PORT, got ${s}`);
  return { host: m[1]!, port: Number(m[2]) };
}

function echo(listen: string): void {
  const { host, port } = hostPort(listen);
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (sock) => {
    sock.on('error', () => sock.destroy());
    sock.pipe(sock);
  });
  server.listen({ host, port, backlog: 1024 }, () => console.log('listening'));
}

function connect(target: { host: string; port: number }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ ...target, noDelay: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Reads until `n` bytes arrived on `s`. */
function readN(s: net.Socket, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= n) {
        cleanup();
        resolve();
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`connection closed after ${got}/${n} bytes`));
    };
    const cleanup = () => {
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('error', onEnd);
    };
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('error', onEnd);
  });
}

async function rr(target: string, count: number, size: number, newConn: boolean): Promise<void> {
  const t = hostPort(target);
  const payload = Buffer.alloc(size, 0x61);
  const samples: number[] = [];
  let errors = 0;
  let shared: net.Socket | undefined = newConn ? undefined : await connect(t);
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    try {
      const s = shared ?? (await connect(t));
      const reply = readN(s, size);
      s.write(payload);
      await reply;
      if (newConn) s.destroy();
      samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    } catch {
      errors++;
      if (!newConn) shared = await connect(t);
    }
  }
  shared?.destroy();
  console.log(JSON.stringify({ samplesMs: samples, errors }));
}

async function hold(target: string, conns: number, seconds: number, intervalMs: number, serveTimeoutMs: number): Promise<void> {
  const t = hostPort(target);
  const started = Date.now();
  const sockets: net.Socket[] = [];
  let connectErrors = 0;
  // Open in batches so the listener's backlog is never the thing being measured.
  for (let i = 0; i < conns; i += 50) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(50, conns - i) }, () => connect(t)));
    for (const r of batch) {
      if (r.status === 'fulfilled') sockets.push(r.value);
      else connectErrors++;
    }
  }
  let closedEarly = 0;
  let pingsSent = 0;
  let pongBytes = 0;
  const alive = new Set(sockets);
  const unanswered = new Set(sockets);
  let allAnswered: () => void = () => undefined;
  const answered = new Promise<void>((resolve) => (allAnswered = resolve));
  for (const s of sockets) {
    s.on('data', (d: Buffer) => {
      pongBytes += d.length;
      if (unanswered.delete(s) && unanswered.size === 0) allAnswered();
    });
    const gone = () => {
      if (alive.delete(s)) closedEarly++;
      if (unanswered.delete(s) && unanswered.size === 0) allAnswered();
    };
    s.on('close', gone);
    s.on('error', gone);
  }
  // A connect() that succeeded may still sit in the listener's backlog (a forking server accepts
  // one at a time): a connection counts as served once its first ping came back.
  for (const s of sockets) {
    s.write('ping1234');
    pingsSent++;
  }
  if (sockets.length === 0) allAnswered();
  await Promise.race([answered, new Promise((r) => setTimeout(r, serveTimeoutMs))]);
  const servedMs = Date.now() - started;
  const served = sockets.length - unanswered.size;
  console.log(JSON.stringify({ ready: sockets.length, served, servedMs }));
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
    for (const s of alive) {
      s.write('ping1234');
      pingsSent++;
    }
  }
  await new Promise((r) => setTimeout(r, 300));
  const survived = alive.size;
  for (const s of sockets) {
    alive.delete(s);
    s.destroy();
  }
  const pongs = pongBytes / 8;
  console.log(JSON.stringify({ opened: sockets.length, connectErrors, served, servedMs, survived, closedEarly, pingsSent, pongs }));
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      listen: { type: 'string' },
      target: { type: 'string' },
      count: { type: 'string', default: '1000' },
      size: { type: 'string', default: '64' },
      'new-conn': { type: 'boolean', default: false },
      conns: { type: 'string', default: '500' },
      seconds: { type: 'string', default: '3' },
      'interval-ms': { type: 'string', default: '500' },
      'serve-timeout-ms': { type: 'string', default: '15000' },
    },
  });
  switch (cmd) {
    case 'echo':
      return echo(values.listen ?? '0.0.0.0:7000');
    case 'rr':
      return rr(values.target!, Number(values.count), Number(values.size), values['new-conn']!);
    case 'hold':
      return hold(values.target!, Number(values.conns), Number(values.seconds), Number(values['interval-ms']), Number(values['serve-timeout-ms']));
    default:
      throw new Error(`unknown command ${cmd ?? '(none)'}; expected echo, rr or hold`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
