// Serves the control protocol on a Unix socket, root only (0600 from the moment it exists: made
// under umask 077, then chmod'ed again). One request at a time per connection; a line longer than
// MAX_LINE, or anything that is not a valid request, gets an error and the connection is closed.
// A connection that sends nothing for IDLE_MS while nothing is in flight is closed, and there are at
// most MAX_CONNECTIONS at once, so a client cannot hold the supervisor's memory. When all are taken,
// a new one takes the place of the one idle longest (none of its requests in flight): connections
// left open and silent (a client that hung, was stopped, or never meant to ask) never lock out the
// CLI; only as many requests actually in flight could.
import { createServer, type Server, type Socket } from 'node:net';
import { lstatSync } from 'node:fs';
import { removePathSync, setModeSync } from '../sys/files.js';
import { MAX_LINE, ProtocolError, parseRequest, type Request, type Response } from './control-protocol.js';

const IDLE_MS = 30_000;
export const MAX_CONNECTIONS = 16;
/** A connection this new is not taken for idle (its request may be on its way). */
const FRESH_MS = 1000;

export type Handler = (req: Request) => Promise<unknown>;

export interface ControlServer {
  close(): Promise<void>;
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) removePathSync(path);
  } catch {
    /* absent */
  }
}

function errorResponse(e: unknown, id?: number): Response {
  const err = e as Error & { exitCode?: number };
  const code = e instanceof ProtocolError ? 2 : typeof err.exitCode === 'number' ? err.exitCode : 1;
  return { ...(id !== undefined && { id }), ok: false, error: err.message ?? String(e), code };
}

interface Connection {
  sock: Socket;
  /** Since when nothing of it is in flight; undefined while a request is. */
  idleSince(): number | undefined;
}

function serveConnection(sock: Socket, handle: Handler): Connection {
  let buf = '';
  let busy = false;
  let idleFrom = Date.now();
  const queue: string[] = [];
  sock.setEncoding('utf8');
  let closed = false;
  sock.setTimeout(IDLE_MS, () => {
    // Busy: the answer is on its way; the idle clock starts again.
    if (!busy) sock.destroy();
    else sock.setTimeout(IDLE_MS);
  });
  sock.on('close', () => (closed = true));
  sock.on('error', () => {});
  const send = (r: Response) => {
    if (!sock.destroyed) sock.write(`${JSON.stringify(r)}\n`);
  };
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (queue.length && !closed) {
      const line = queue.shift()!;
      let id: number | undefined;
      try {
        const parsed = parseRequest(line);
        id = parsed.id;
        send({ ...(id !== undefined && { id }), ok: true, result: (await handle(parsed.req)) ?? null });
      } catch (e) {
        send(errorResponse(e, id));
        if (e instanceof ProtocolError) {
          closed = true;
          sock.end();
          queue.length = 0;
        }
      }
    }
    busy = false;
    idleFrom = Date.now();
  };
  sock.on('data', (d: string) => {
    if (closed) return;
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      queue.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    if (buf.length > MAX_LINE || queue.length > 8) {
      send(errorResponse(new ProtocolError(buf.length > MAX_LINE ? 'request too long' : 'too many requests in flight')));
      closed = true;
      sock.end();
      buf = '';
      queue.length = 0;
      return;
    }
    void pump();
  });
  return { sock, idleSince: () => (busy || queue.length ? undefined : idleFrom) };
}

/** Room for one more: the connection idle longest gives way, if one has been idle a while. */
function makeRoom(conns: Set<Connection>): boolean {
  if (conns.size < MAX_CONNECTIONS) return true;
  let oldest: Connection | undefined;
  for (const c of conns) {
    const t = c.idleSince();
    if (t !== undefined && Date.now() - t >= FRESH_MS && (!oldest || t < oldest.idleSince()!)) oldest = c;
  }
  if (!oldest) return false;
  oldest.sock.destroy();
  conns.delete(oldest);
  return true;
}

export function serveControl(path: string, handle: Handler): Promise<ControlServer> {
  removeStaleSocket(path);
  const conns = new Set<Connection>();
  const server: Server = createServer({ allowHalfOpen: false }, (sock) => {
    if (!makeRoom(conns)) {
      sock.destroy();
      return;
    }
    const c = serveConnection(sock, handle);
    conns.add(c);
    sock.once('close', () => conns.delete(c));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // The socket is bound inside listen(): under this umask it is never, even briefly, open to others.
    const old = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', reject);
        server.on('error', () => {});
        setModeSync(path, 0o600);
        resolve({
          close: () =>
            new Promise<void>((r) => {
              server.close(() => r());
              removeStaleSocket(path);
            }),
        });
      });
    } finally {
      process.umask(old);
    }
  });
}
