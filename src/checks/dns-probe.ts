// Asks DNS servers questions directly over UDP. Imported by `vpnns check` for the host side, and run
// as a script inside the namespace (`ip netns exec NS node dns-probe.js JSON`), because only a
// process started there has the namespace's network.
import { createSocket } from 'node:dgram';
import { isIPv6 } from '../config/net-utils.js';
import { randomInt } from 'node:crypto';
import { buildQuery, parseResponse, rcodeName, type QueryType } from '../net/dns-wire.js';

export interface DnsQuestion {
  server: string;
  name: string;
  type: QueryType;
}

export interface DnsProbeResult extends DnsQuestion {
  /** NOERROR, NXDOMAIN, ... when an answer came back. */
  rcode?: string;
  records?: string[];
  error?: string;
}

export function queryDns(q: DnsQuestion, timeoutMs: number): Promise<DnsProbeResult> {
  const id = randomInt(0, 0x10000);
  const query = buildQuery(id, q.name, q.type);
  return new Promise((resolve) => {
    const sock = createSocket(isIPv6(q.server) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (r: Partial<DnsProbeResult>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve({ ...q, ...r });
    };
    const timer = setTimeout(() => finish({ error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    sock.on('error', (e) => finish({ error: e.message }));
    sock.on('message', (msg) => {
      try {
        const a = parseResponse(msg, id, q.type);
        finish({ rcode: rcodeName(a.rcode), records: a.records });
      } catch {
        /* someone else's datagram: keep waiting for ours */
      }
    });
    // An ICMP error (port unreachable, admin-prohibited from the kill switch) surfaces as a socket error.
    sock.connect(53, q.server, () => sock.send(query, (e) => e && finish({ error: e.message })));
  });
}

/** `{random}` in a whoami name becomes a fresh label, so no cache between us and the authority answers. */
export function expandWhoami(name: string): string {
  return name.replaceAll('{random}', `vpnns-${randomInt(0, 2 ** 32).toString(16).padStart(8, '0')}`);
}

export function queryAll(questions: DnsQuestion[], timeoutMs: number): Promise<DnsProbeResult[]> {
  return Promise.all(questions.map((q) => queryDns(q, timeoutMs)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const questions = JSON.parse(process.argv[2] ?? '[]') as DnsQuestion[];
  const timeoutMs = Number(process.argv[3] ?? 3000);
  queryAll(questions, timeoutMs).then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
}
