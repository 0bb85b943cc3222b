// Asks one DNS server one question and prints the parsed answer as JSON.
// Run inside a namespace (ip netns exec NS node dns-query.js SERVER NAME [TYPE] [udp|tcp])
// because nsenter'd processes would use this machine's resolv.conf, and
// because `dig` is not installed.
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { isIPv6 } from '../config/net-utils.js';
import { buildQuery, readResponse, type TYPES, type ParsedResponse } from '../net/dns-wire.js';

export function queryDns(server: string, name: string, type: keyof typeof TYPES = 'A', proto: 'udp' | 'tcp' = 'udp', timeoutMs = 2000, port = 53): Promise<ParsedResponse> {
  const id = Math.floor(Math.random() * 0xffff);
  const query = buildQuery(id, name, type);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no answer from ${server} within ${timeoutMs} ms`));
    }, timeoutMs);
    let cleanup = (): void => {};
    const done = (msg: Buffer): void => {
      clearTimeout(timer);
      cleanup();
      try {
        resolve(readResponse(msg));
      } catch (e) {
        reject(e);
      }
    };
    if (proto === 'udp') {
      const sock = createSocket(isIPv6(server) ? 'udp6' : 'udp4');
      cleanup = () => sock.close();
      sock.on('error', (e) => { clearTimeout(timer); cleanup(); reject(e); });
      sock.on('message', (msg) => { if (msg.readUInt16BE(0) === id) done(msg); });
      sock.send(query, port, server);
    } else {
      const conn = connect({ host: server, port });
      cleanup = () => conn.destroy();
      let buf = Buffer.alloc(0);
      conn.on('error', (e) => { clearTimeout(timer); cleanup(); reject(e); });
      conn.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length, 0);
        conn.write(Buffer.concat([len, query]));
      });
      conn.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
    }
  });
}

// Run as a script (not when imported).
if (import.meta.url === `file://${process.argv[1]}`) {
  const [server, name, type = 'A', proto = 'udp'] = process.argv.slice(2);
  if (!server || !name) {
    process.stderr.write('usage: dns-query.js SERVER NAME [A|AAAA|TXT] [udp|tcp]\n');
    process.exit(2);
  }
  queryDns(server, name, type as keyof typeof TYPES, proto as 'udp' | 'tcp').then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: unknown) => {
      process.stdout.write(`${JSON.stringify({ error: e instanceof Error ? e.message : String(e) })}\n`);
      process.exit(1);
    },
  );
}
