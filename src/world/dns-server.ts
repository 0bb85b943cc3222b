// An authoritative-only DNS server for the simulated internet: every resolver
// in the world (ISP, VPN provider) runs this with its own identity, answers
// only the names it was given and logs every question, so tests can tell
// which resolver a lookup went to.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { isIPv4, isIPv6 } from '../config/net-utils.js';
import { buildResponse, parseQuery, RCODE, TYPES, typeName, type Answer, type Question } from '../net/dns-wire.js';
import { appendJsonLine, plainAddress } from './jsonl.js';
import type { DnsRecordSet, DnsServiceConfig } from './service-config.js';

export interface DnsQueryLog {
  t: number;
  from: string;
  name: string;
  type: string;
  resolver: string;
  proto: 'udp' | 'tcp';
  to: string;
}

/** Pure: the rcode and answers for a question asked at `localAddress`. */
export function answerQuestion(cfg: DnsServiceConfig, q: Question, localAddress: string): { rcode: number; answers: Answer[] } {
  if ((q.flags >> 11) & 0xf) return { rcode: RCODE.NOTIMP, answers: [] };
  if (q.klass !== 1 && q.klass !== 255) return { rcode: RCODE.REFUSED, answers: [] };
  let rec: DnsRecordSet | undefined = cfg.records[q.name];
  if (cfg.whoami && q.name === cfg.whoami) {
    rec = { TXT: [cfg.identity], ...(isIPv4(localAddress) ? { A: [localAddress] } : { AAAA: [localAddress] }) };
  }
  if (!rec) return { rcode: RCODE.NXDOMAIN, answers: [] };
  const ttl = cfg.ttl ?? 30;
  const pick = (type: 'A' | 'AAAA' | 'TXT'): Answer[] => (rec[type] ?? []).map((data) => ({ type, ttl, data }));
  switch (q.type) {
    case TYPES.A: return { rcode: RCODE.NOERROR, answers: pick('A') };
    case TYPES.AAAA: return { rcode: RCODE.NOERROR, answers: pick('AAAA') };
    case TYPES.TXT: return { rcode: RCODE.NOERROR, answers: pick('TXT') };
    case TYPES.ANY: return { rcode: RCODE.NOERROR, answers: [...pick('A'), ...pick('AAAA'), ...pick('TXT')] };
    // Existing name, type we do not have: NODATA.
    default: return { rcode: RCODE.NOERROR, answers: [] };
  }
}

function respond(cfg: DnsServiceConfig, msg: Buffer, from: string, to: string, proto: 'udp' | 'tcp'): Buffer | undefined {
  let q: Question;
  try {
    q = parseQuery(msg);
  } catch {
    return undefined; // garbage gets no answer, like most servers
  }
  const entry: DnsQueryLog = { t: Date.now(), from: plainAddress(from), name: q.name, type: typeName(q.type), resolver: cfg.identity, proto, to };
  appendJsonLine(cfg.log, entry);
  const { rcode, answers } = answerQuestion(cfg, q, to);
  return buildResponse(q, rcode, answers);
}

export async function startDnsServer(cfg: DnsServiceConfig): Promise<() => Promise<void>> {
  const port = cfg.port ?? 53;
  const sockets: Socket[] = [];
  const servers: Server[] = [];
  for (const address of cfg.listen) {
    const udp = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
    udp.on('message', (msg, rinfo) => {
      const reply = respond(cfg, msg, rinfo.address, address, 'udp');
      if (reply) udp.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address, port }, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    // A send to a client that has gone away must not kill the whole service process.
    udp.on('error', (e) => process.stderr.write(`dns udp ${address}: ${e.message}\n`));
    sockets.push(udp);

    const tcp = createServer((conn) => {
      let buf = Buffer.alloc(0);
      conn.on('error', () => {});
      conn.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        // TCP DNS frames each message with a two-byte length.
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const msg = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          const reply = respond(cfg, msg, conn.remoteAddress ?? '', address, 'tcp');
          if (!reply) return conn.destroy();
          const lenBuf = Buffer.alloc(2);
          lenBuf.writeUInt16BE(reply.length, 0);
          conn.write(Buffer.concat([lenBuf, reply]));
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: address, port }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    servers.push(tcp);
  }
  return async () => {
    for (const s of sockets) s.close();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  };
}
