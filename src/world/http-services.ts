// HTTP(S) services of the simulated internet. One generic server wrapper
// (listen on each address, TLS when asked, log every request as a JSON line)
// and pluggable handlers: the built-in IP echo, or a module given by path.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { pathToFileURL } from 'node:url';
import { appendJsonLine, plainAddress } from './jsonl.js';
import type { EchoServiceConfig, HttpListen, HttpModuleServiceConfig, TlsFiles } from './service-config.js';

export interface HttpRequestLog {
  t: number;
  from: string;
  host?: string;
  path: string;
  method: string;
  tls: boolean;
  to: string;
  service?: string;
}

export interface HttpModuleContext {
  /** The caller's address, without the ::ffff: prefix. */
  from: string;
  tls: boolean;
  options: unknown;
  /** Appends an extra JSON line to the service's log (e.g. a request body). */
  log(record: object): void;
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse, ctx: HttpModuleContext) => void | Promise<void>;

const ZEROS = Buffer.alloc(64 * 1024);

export const echoHandler: HttpHandler = (req, res, ctx) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const bytes = /^\/bytes\/(\d+)$/.exec(url.pathname);
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${ctx.from}\n`);
  } else if (url.pathname === '/json') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify({ ip: ctx.from })}\n`);
  } else if (bytes) {
    // Streams n zero bytes, for throughput checks without a second tool.
    let left = Number(bytes[1]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, ZEROS.length);
        left -= n;
        if (!res.write(ZEROS.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
};

async function listen(server: Server, l: HttpListen): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: l.host, port: l.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export async function startHttpService(
  cfg: { name?: string; listen: HttpListen[]; tls?: TlsFiles; log: string; options?: unknown },
  handler: HttpHandler,
): Promise<() => Promise<void>> {
  const tlsOpts = cfg.tls ? { cert: readFileSync(cfg.tls.cert), key: readFileSync(cfg.tls.key) } : undefined;
  const servers: Server[] = [];
  for (const l of cfg.listen) {
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const from = plainAddress(req.socket.remoteAddress);
      const entry: HttpRequestLog = {
        t: Date.now(),
        from,
        host: req.headers.host,
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        tls: Boolean(l.tls),
        to: l.host,
        ...(cfg.name ? { service: cfg.name } : {}),
      };
      appendJsonLine(cfg.log, entry);
      const ctx: HttpModuleContext = {
        from,
        tls: Boolean(l.tls),
        options: cfg.options,
        log: (record) => appendJsonLine(cfg.log, { t: Date.now(), ...record }),
      };
      Promise.resolve(handler(req, res, ctx)).catch((e: unknown) => {
        process.stderr.write(`handler error: ${String(e)}\n`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    };
    if (l.tls && !tlsOpts) throw new Error(`listen ${l.host}:${l.port} asks for TLS but the service has no tls files`);
    const server = l.tls ? createHttpsServer(tlsOpts!, onRequest) : createHttpServer(onRequest);
    await listen(server, l);
    servers.push(server);
  }
  return async () => {
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  };
}

export function startEcho(cfg: EchoServiceConfig): Promise<() => Promise<void>> {
  return startHttpService(cfg, echoHandler);
}

export async function startHttpModule(cfg: HttpModuleServiceConfig): Promise<() => Promise<void>> {
  const mod = (await import(pathToFileURL(cfg.module).href)) as { default?: HttpHandler };
  if (typeof mod.default !== 'function') throw new Error(`${cfg.module} has no default export handler`);
  return startHttpService(cfg, mod.default);
}
