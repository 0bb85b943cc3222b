// The published-port forwarder: one foreground process per published port, relaying every
// connection accepted on --listen to --target. Run by the supervisor or a systemd unit:
//   node forwarder-main.js --listen 127.0.0.1:8080 --target 10.0.0.2:8080
// Exit codes: 0 after SIGTERM/SIGINT, 1 when it cannot listen, 2 on bad usage.
import * as net from 'node:net';
import { parseArgs } from 'node:util';
import { formatHostPort, type HostPort } from '../config/net-utils.js';
import { requireHostPort } from './forward.js';

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

function parseCommandLine(argv: string[]): { listen: HostPort; target: HostPort } {
  const usage = 'usage: forwarder-main.js --listen ADDR:PORT --target ADDR:PORT';
  let values: { listen?: string; target?: string };
  try {
    ({ values } = parseArgs({ args: argv, options: { listen: { type: 'string' }, target: { type: 'string' } } }));
  } catch (err) {
    fail(2, `${(err as Error).message}; ${usage}`);
  }
  if (!values.listen || !values.target) fail(2, usage);
  try {
    return { listen: requireHostPort(values.listen), target: requireHostPort(values.target) };
  } catch (err) {
    fail(2, `${(err as Error).message}; ${usage}`);
  }
}

function listenErrorMessage(err: NodeJS.ErrnoException, listen: HostPort): string {
  const where = formatHostPort(listen);
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
  const { listen, target } = parseCommandLine(process.argv.slice(2));
  const targetText = formatHostPort(target);
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
    const upstream = net.connect({
      host: target.host,
      port: target.port,
      noDelay: true,
      allowHalfOpen: true,
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_MS,
      highWaterMark: HIGH_WATER_MARK,
    } as net.NetConnectOpts);
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
  // exclusive: never share the port with another process through cluster-style handle passing.
  server.listen({ host: listen.host, port: listen.port, exclusive: true, backlog: 1024 }, () => {
    process.stderr.write(`forwarder: ${formatHostPort(listen)} -> ${targetText}\n`);
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
