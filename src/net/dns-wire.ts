// Just enough of the DNS wire format (RFC 1035) to ask and answer A, AAAA and TXT questions: the
// simulated world's DNS server and query helper, and `vpnns check`, which must see which resolver
// answers (there is no dig on the machine). Pure functions, one codec for all of them.
import { ipv6Bytes, ipv6FromBytes, isIPv4, isIPv6 } from '../config/net-utils.js';

export const TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, HTTPS: 65, ANY: 255 } as const;
export type RecordType = 'A' | 'AAAA' | 'TXT';
/** What `vpnns check` asks. */
export type QueryType = RecordType;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** NOERROR, NXDOMAIN, ... or RCODE<n> for one without a name here. */
export function rcodeName(rcode: number): string {
  return Object.entries(RCODE).find(([, v]) => v === rcode)?.[0] ?? `RCODE${rcode}`;
}

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

/** A query for one question, recursion desired. */
export function buildQuery(id: number, name: string, type: number | keyof typeof TYPES): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, encodeName(name), u16(typeof type === 'number' ? type : TYPES[type]), u16(1)]);
}

/** Where a name ends, without reading it (a compression pointer ends the name). */
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

interface RawRecord {
  /** Where the record's owner name starts. */
  at: number;
  type: number;
  ttl: number;
  rdata: Buffer;
}

/** The header's id, flags and the answer records, each checked to lie inside the message. */
function readMessage(msg: Buffer): { id: number; flags: number; answers: RawRecord[] } {
  if (msg.length < 12) throw new Error('short DNS message');
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let pos = 12;
  for (let i = 0; i < qd; i++) pos = skipName(msg, pos) + 4;
  const answers: RawRecord[] = [];
  for (let i = 0; i < an; i++) {
    const at = pos;
    pos = skipName(msg, pos);
    if (pos + 10 > msg.length) throw new Error('truncated record');
    const rdlen = msg.readUInt16BE(pos + 8);
    const rdata = msg.subarray(pos + 10, pos + 10 + rdlen);
    if (rdata.length !== rdlen) throw new Error('truncated record data');
    answers.push({ at, type: msg.readUInt16BE(pos), ttl: msg.readUInt32BE(pos + 4), rdata });
    pos += 10 + rdlen;
  }
  return { id, flags, answers };
}

/** A TXT record's strings, joined. */
function txtData(rdata: Buffer): string {
  const parts: string[] = [];
  for (let p = 0; p < rdata.length; ) {
    const len = rdata[p]!;
    parts.push(rdata.subarray(p + 1, p + 1 + len).toString('utf8'));
    p += 1 + len;
  }
  return parts.join('');
}

export interface ParsedResponse {
  id: number;
  rcode: number;
  rcodeName: string;
  answers: Array<{ name: string; type: string; ttl: number; data: string }>;
}

/** Every answer record of a response, named and decoded (the world's query helper prints them). */
export function readResponse(msg: Buffer): ParsedResponse {
  const { id, flags, answers } = readMessage(msg);
  const rcode = flags & 0xf;
  return {
    id,
    rcode,
    rcodeName: rcodeName(rcode),
    answers: answers.map((r) => {
      const data = r.type === TYPES.A ? [...r.rdata].join('.') : r.type === TYPES.AAAA ? ipv6FromBytes(r.rdata) : r.type === TYPES.TXT ? txtData(r.rdata) : r.rdata.toString('hex');
      return { name: readName(msg, r.at).name, type: typeName(r.type), ttl: r.ttl, data };
    }),
  };
}

export interface DnsAnswer {
  rcode: number;
  /** Answer records of the asked type (CNAMEs are followed by the resolver, not by us). */
  records: string[];
}

/** The response to question `id` of `type` (what `vpnns check` reads); throws on a malformed or foreign message. */
export function parseResponse(msg: Buffer, id: number, type: QueryType): DnsAnswer {
  if (msg.length >= 12 && msg.readUInt16BE(0) !== id) throw new Error('answer to another question');
  if (msg.length >= 12 && !(msg.readUInt16BE(2) & 0x8000)) throw new Error('not a response');
  const m = readMessage(msg);
  const records: string[] = [];
  for (const r of m.answers) {
    if (r.type !== TYPES[type]) continue;
    if (type === 'A' && r.rdata.length === 4) records.push([...r.rdata].join('.'));
    else if (type === 'AAAA' && r.rdata.length === 16) records.push(ipv6FromBytes(r.rdata));
    else if (type === 'TXT') records.push(txtData(r.rdata));
  }
  return { rcode: m.flags & 0xf, records };
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}
