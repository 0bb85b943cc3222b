// The forwarder: one foreground process per published port (or per half of a host service),
// relaying every connection accepted on --listen to --target. Run by the supervisor or a systemd unit:
//   node forwarder-main.js --listen 127.0.0.1:8080 --target 10.0.0.2:8080
//   node forwarder-main.js --listen unix:/run/vpnns/NS/host-services/11434.sock --target 127.0.0.1:11434 --uid 65534 --gid 65534
// With --uid/--gid it drops to them once it listens (so it may bind a low port or a root-owned
// directory first); a Unix socket it listens on is made 0600 and given to that user first.
// Exit codes: 0 after SIGTERM/SIGINT, 1 when it cannot listen, 2 on bad usage.
import * as net from 'node:net';
import { lstatSync } from 'node:fs';
import { setLinkOwnerSync, unlinkFileSync } from '../sys/files.js';
import { parseArgs } from 'node:util';
import { formatEndpoint, parseEndpoint, type Endpoint } from './forward.js';

/** How long open connections may go on after SIGTERM before they are cut. */
const DRAIN_MS = 2000;
/** Keepalive probes reap connections whose peer vanished without a FIN (long-lived WebSockets). */
const KEEPALIVE_MS = 60_000;
/**
 * Bigger stream buffers than the 16 KiB default mean fewer pause/resume cycles per byte: ~35% less
 * CPU per GB in bench/forward.ts; 1 MiB was no better. Worst case, when every peer stalls, is
 * 2 x 256 KiB per connection.
 */
const HIGH_WATER_MARK = 256 * 1024;
/** At most one "target unreachable" line per this interval, so an app that is down cannot flood the log. */
const LOG_INTERVAL_MS = 10_000;

function fail(code: number, message: string): never {
  process.stderr.write(`forwarder: ${message}\n`);
  process.exit(code);
}

interface Drop { uid: number; gid: number }

function parseId(text: string | undefined, what: string, usage: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,10}$/.test(text) || Number(text) === 0 || Number(text) > 0xfffffffe) fail(2, `expected --${what} to be a number other than 0, got "${text}"; ${usage}`);
  return Number(text);
}

function parseCommandLine(argv: string[]): { listen: Endpoint; target: Endpoint; drop?: Drop } {
  // Also: unix:/PATH in place of ADDR:PORT, and --uid N --gid N (host services; see the header).
  const usage = 'usage: forwarder-main.js --listen ADDR:PORT --target ADDR:PORT';
  let values: { listen?: string; target?: string; uid?: string; gid?: string };
  try {
    ({ values } = parseArgs({ args: argv, options: { listen: { type: 'string' }, target: { type: 'string' }, uid: { type: 'string' }, gid: { type: 'string' } } }));
  } catch (err) {
    fail(2, `${(err as Error).message}; ${usage}`);
  }
  if (!values.listen || !values.target) fail(2, usage);
  const uid = parseId(values.uid, 'uid', usage);
  const gid = parseId(values.gid, 'gid', usage);
  if ((uid === undefined) !== (gid === undefined)) fail(2, `expected --uid and --gid together; ${usage}`);
  try {
    return { listen: parseEndpoint(values.listen), target: parseEndpoint(values.target), ...(uid !== undefined && { drop: { uid, gid: gid! } }) };
  } catch (err) {
    fail(2, `${(err as Error).message}; ${usage}`);
  }
}

/** A socket left by an earlier run is removed; anything else at the path is not ours to remove. */
function clearStaleSocket(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) fail(1, `cannot listen on ${path}: something other than a socket is there`);
  unlinkFileSync(path);
}

/** After listening: the socket file to the unprivileged user (lchown: never through a link), then the drop itself. */
function dropPrivileges(listen: Endpoint, drop: Drop): void {
  if ('path' in listen) setLinkOwnerSync(listen.path, drop.uid, drop.gid);
  process.setgroups!([drop.gid]);
  process.setgid!(drop.gid);
  process.setuid!(drop.uid);
  if (process.getuid?.() !== drop.uid || process.geteuid?.() !== drop.uid) fail(1, `could not drop privileges to uid ${drop.uid}`);
}

function listenErrorMessage(err: NodeJS.ErrnoException, listen: Endpoint): string {
  const where = formatEndpoint(listen);
  if (!('port' in listen)) return `cannot listen on ${where}: ${err.message}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `port ${where} is already in use; free it or choose another host port in publish`;
    case 'EACCES':
      return `not allowed to listen on ${where}; ports below 1024 need root or CAP_NET_BIND_SERVICE`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: ${listen.host} is not an address of this machine`;
    default:
      return `cannot listen on ${where}: ${err.message}`;
  }
}

function main(): void {
  const { listen, target, drop } = parseCommandLine(process.argv.slice(2));
  const targetText = formatEndpoint(target);
  let dropped = drop === undefined;
  const open = new Set<net.Socket>();
  let lastLog = 0;
  let suppressed = 0;

  const logUnreachable = (err: NodeJS.ErrnoException) => {
    const now = Date.now();
    if (now - lastLog < LOG_INTERVAL_MS) {
      suppressed++;
      return;
    }
    const more = suppressed ? ` (${suppressed} more since last report)` : '';
    process.stderr.write(`forwarder: target ${targetText} unreachable (${err.code ?? err.message}); closed the incoming connection${more}\n`);
    lastLog = now;
    suppressed = 0;
  };

  const relay = (client: net.Socket) => {
    // Never relay as root when a drop was asked for (connections are only handled after 'listening').
    if (!dropped) {
      client.destroy();
      return;
    }
    const upstream = net.connect({
      ...('path' in target ? { path: target.path } : { host: target.host, port: target.port, noDelay: true }),
      allowHalfOpen: true,
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_MS,
      highWaterMark: HIGH_WATER_MARK,
    } as unknown as net.NetConnectOpts);
    open.add(client);
    open.add(upstream);
    client.setKeepAlive(true, KEEPALIVE_MS);
    let connected = false;
    upstream.once('connect', () => (connected = true));

    // pipe() forwards a FIN as end() on the other socket and keeps the reverse direction open:
    // that is the half-close WebSocket closing handshakes and `Connection: close` HTTP rely on.
    client.pipe(upstream);
    upstream.pipe(client);

    // A clean close needs nothing: both FINs already went through pipe(). An error on one side
    // is passed on as a reset, so the peer sees a failure instead of a truncated clean stream.
    client.on('error', () => undefined);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) logUnreachable(err);
    });
    client.on('close', (hadError) => {
      open.delete(client);
      if (hadError) upstream.destroy();
    });
    upstream.on('close', (hadError) => {
      open.delete(upstream);
      if (hadError && !client.destroyed) client.resetAndDestroy();
    });
  };

  const server = net.createServer(
    { allowHalfOpen: true, noDelay: true, highWaterMark: HIGH_WATER_MARK } as net.ServerOpts,
    relay,
  );
  server.on('error', (err: NodeJS.ErrnoException) => fail(1, listenErrorMessage(err, listen)));
  if ('path' in listen) {
    clearStaleSocket(listen.path);
    // Made 0600 by the kernel from the start: no moment in which another user could connect.
    process.umask(0o177);
  }
  // exclusive: never share the port with another process through cluster-style handle passing.
  const where = 'path' in listen ? { path: listen.path } : { host: listen.host, port: listen.port };
  server.listen({ ...where, exclusive: true, backlog: 1024 }, () => {
    if (drop) dropPrivileges(listen, drop);
    dropped = true;
    process.stderr.write(`forwarder: ${formatEndpoint(listen)} -> ${targetText}${drop ? ` (as uid ${drop.uid})` : ''}\n`);
  });

  let stopping = false;
  const stop = () => {
    if (stopping) {
      // A second signal means "now".
      process.exit(0);
    }
    stopping = true;
    server.close(() => process.exit(0));
    const cut = setTimeout(() => {
      for (const s of open) s.destroy();
      process.exit(0);
    }, DRAIN_MS);
    cut.unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
