// Minimal RFC 1035 wire format: just enough to answer and ask A/AAAA/TXT
// questions. Pure functions so both the server and the query helper share it.
import { ipv6Bytes, ipv6FromBytes, isIPv4, isIPv6 } from '../config/net-utils.js';

export const TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, HTTPS: 65, ANY: 255 } as const;
export type RecordType = 'A' | 'AAAA' | 'TXT';

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export function typeName(code: number): string {
  for (const [name, value] of Object.entries(TYPES)) if (value === code) return name;
  return `TYPE${code}`;
}

export interface Question {
  id: number;
  flags: number;
  name: string; // lower case, no trailing dot
  type: number;
  klass: number;
}

export interface Answer {
  type: RecordType;
  ttl: number;
  data: string; // dotted/colon address, or the TXT string
}

/** Parses the first question of a query; throws on anything malformed. */
export function parseQuery(msg: Buffer): Question {
  if (msg.length < 12) throw new Error('short DNS header');
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) throw new Error('not a query');
  if (msg.readUInt16BE(4) < 1) throw new Error('no question');
  const { name, end } = readName(msg, 12);
  if (end + 4 > msg.length) throw new Error('truncated question');
  return { id, flags, name, type: msg.readUInt16BE(end), klass: msg.readUInt16BE(end + 2) };
}

function readName(msg: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let pos = start;
  let end = -1;
  for (let hops = 0; hops < 64; hops++) {
    const len = msg[pos];
    if (len === undefined) throw new Error('truncated name');
    if (len === 0) {
      if (end < 0) end = pos + 1;
      return { name: labels.join('.').toLowerCase(), end };
    }
    if ((len & 0xc0) === 0xc0) {
      // Compression pointer: only seen in answers, which the query helper reads.
      if (end < 0) end = pos + 2;
      pos = ((len & 0x3f) << 8) | (msg[pos + 1] ?? 0);
      continue;
    }
    labels.push(msg.subarray(pos + 1, pos + 1 + len).toString('latin1'));
    pos += 1 + len;
  }
  throw new Error('name too long or looping');
}

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  const bufs = parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')]));
  return Buffer.concat([...bufs, Buffer.from([0])]);
}

function encodeRdata(a: Answer): Buffer {
  switch (a.type) {
    case 'A':
      if (!isIPv4(a.data)) throw new Error(`bad A data ${a.data}`);
      return Buffer.from(a.data.split('.').map(Number));
    case 'AAAA':
      if (!isIPv6(a.data)) throw new Error(`bad AAAA data ${a.data}`);
      return Buffer.from(ipv6Bytes(a.data)!);
    case 'TXT': {
      const chunks: Buffer[] = [];
      const raw = Buffer.from(a.data, 'utf8');
      for (let i = 0; i < raw.length || i === 0; i += 255) {
        const part = raw.subarray(i, i + 255);
        chunks.push(Buffer.from([part.length]), part);
      }
      return Buffer.concat(chunks);
    }
  }
}

/** Builds a response to `q`: the question echoed back, then the answers. */
export function buildResponse(q: Question, rcode: number, answers: readonly Answer[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR=1, opcode copied, AA=1, RD copied, RA=1 (stub resolvers complain without RA).
  const flags = 0x8000 | (q.flags & 0x7800) | 0x0400 | (q.flags & 0x0100) | 0x0080 | (rcode & 0xf);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const question = Buffer.concat([encodeName(q.name), u16(q.type), u16(q.klass)]);
  const rrs = answers.map((a) => {
    const rdata = encodeRdata(a);
    const ttl = Buffer.alloc(4);
    ttl.writeUInt32BE(a.ttl, 0);
    // 0xc00c points at the question name, right after the header.
    return Buffer.concat([Buffer.from([0xc0, 0x0c]), u16(TYPES[a.type]), u16(1), ttl, u16(rdata.length), rdata]);
  });
  return Buffer.concat([header, question, ...rrs]);
}

export function buildQuery(id: number, name: string, type: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, encodeName(name), u16(type), u16(1)]);
}

export interface ParsedResponse {
  id: number;
  rcode: number;
  rcodeName: string;
  answers: Array<{ name: string; type: string; ttl: number; data: string }>;
}

export function parseResponse(msg: Buffer): ParsedResponse {
  if (msg.length < 12) throw new Error('short DNS response');
  const id = msg.readUInt16BE(0);
  const rcode = msg.readUInt16BE(2) & 0xf;
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let pos = 12;
  for (let i = 0; i < qd; i++) pos = readName(msg, pos).end + 4;
  const answers: ParsedResponse['answers'] = [];
  for (let i = 0; i < an; i++) {
    const { name, end } = readName(msg, pos);
    const type = msg.readUInt16BE(end);
    const ttl = msg.readUInt32BE(end + 4);
    const len = msg.readUInt16BE(end + 8);
    const rdata = msg.subarray(end + 10, end + 10 + len);
    let data: string;
    if (type === TYPES.A) data = [...rdata].join('.');
    else if (type === TYPES.AAAA) data = ipv6FromBytes(rdata);
    else if (type === TYPES.TXT) {
      const parts: string[] = [];
      for (let p = 0; p < rdata.length; ) {
        const l = rdata[p] ?? 0;
        parts.push(rdata.subarray(p + 1, p + 1 + l).toString('utf8'));
        p += 1 + l;
      }
      data = parts.join('');
    } else data = rdata.toString('hex');
    answers.push({ name, type: typeName(type), ttl, data });
    pos = end + 10 + len;
  }
  const rcodeName = Object.entries(RCODE).find(([, v]) => v === rcode)?.[0] ?? `RCODE${rcode}`;
  return { id, rcode, rcodeName, answers };
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}
