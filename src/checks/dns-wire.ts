// Just enough of the DNS wire format (RFC 1035) to ask one A, AAAA or TXT question and read the
// answer: `vpnns check` must see which resolver answers, and there is no dig on the machine.
import { randomInt } from 'node:crypto';
import { ipv6FromBytes } from '../config/net-utils.js';

export const QTYPE = { A: 1, CNAME: 5, TXT: 16, AAAA: 28 } as const;
export type QueryType = 'A' | 'AAAA' | 'TXT';

export interface DnsAnswer {
  rcode: number;
  /** Answer records of the asked type (CNAMEs are followed by the resolver, not by us). */
  records: string[];
}

export function buildQuery(id: number, name: string, type: QueryType): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // recursion desired
  header.writeUInt16BE(1, 4);
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  const qname = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(QTYPE[type], 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([header, qname, tail]);
}

function skipName(msg: Buffer, pos: number): number {
  for (let hops = 0; hops < 128; hops++) {
    const len = msg[pos];
    if (len === undefined) throw new Error('truncated name');
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2;
    pos += 1 + len;
  }
  throw new Error('name too long');
}

/** Parses a response to `id`; throws on a malformed or foreign message. */
export function parseResponse(msg: Buffer, id: number, type: QueryType): DnsAnswer {
  if (msg.length < 12) throw new Error('short DNS message');
  if (msg.readUInt16BE(0) !== id) throw new Error('answer to another question');
  const flags = msg.readUInt16BE(2);
  if (!(flags & 0x8000)) throw new Error('not a response');
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let pos = 12;
  for (let i = 0; i < qd; i++) pos = skipName(msg, pos) + 4;
  const records: string[] = [];
  for (let i = 0; i < an; i++) {
    pos = skipName(msg, pos);
    if (pos + 10 > msg.length) throw new Error('truncated record');
    const rtype = msg.readUInt16BE(pos);
    const rdlen = msg.readUInt16BE(pos + 8);
    const rdata = msg.subarray(pos + 10, pos + 10 + rdlen);
    if (rdata.length !== rdlen) throw new Error('truncated record data');
    pos += 10 + rdlen;
    if (rtype !== QTYPE[type]) continue;
    if (type === 'A' && rdlen === 4) records.push([...rdata].join('.'));
    else if (type === 'AAAA' && rdlen === 16) records.push(ipv6FromBytes(rdata));
    else if (type === 'TXT') {
      const parts: string[] = [];
      for (let p = 0; p < rdata.length; ) {
        const len = rdata[p]!;
        parts.push(rdata.subarray(p + 1, p + 1 + len).toString('utf8'));
        p += 1 + len;
      }
      records.push(parts.join(''));
    }
  }
  return { rcode: flags & 0xf, records };
}

export const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };

/** `{random}` in a whoami name becomes a fresh label, so no cache between us and the authority answers. */
export function expandWhoami(name: string): string {
  return name.replaceAll('{random}', `vpnns-${randomInt(0, 2 ** 32).toString(16).padStart(8, '0')}`);
}
