// Whether a TCP port answers, and whether one is free to listen on: the two questions `up`'s
// preflight, the supervisor's publish operations and `check` ask of host ports.
import { connect, createServer } from 'node:net';

/** Whether something accepts a TCP connection at host:port within timeoutMs. */
export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<{ open: boolean; error?: string }> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (r: { open: boolean; error?: string }) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ open: false, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    sock.on('connect', () => done({ open: true }));
    sock.on('error', (e: NodeJS.ErrnoException) => done({ open: false, error: e.code ?? e.message }));
  });
}

/** Whether host:port can be bound now (nothing else listens there). */
export function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}
