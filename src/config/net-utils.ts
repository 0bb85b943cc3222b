// Address parsing shared by config validation and the renderers. Pure: no lookups, no I/O.

import { SocketAddress } from 'node:net';

/** Dotted-quad IPv4 to an unsigned 32-bit number. Leading zeros are rejected: `010` means 8 to some tools and 10 to others. */
export function parseIPv4(s: string): number | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const octet = Number(p);
    if (octet > 255) return null;
    n = n * 256 + octet;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export const isIPv4 = (s: string): boolean => parseIPv4(s) !== null;
/**
 * Zone ids (`fe80::1%eth0`) are not addresses a config can use across namespaces. Otherwise the
 * same answers as Node's `net.isIPv6` (test/unit/net-utils.test.ts compares them), without its one
 * large pattern, whose first use compiles it: ~10 ms of `up`'s on its way to the first byte (a
 * WireGuard file's `AllowedIPs = ::/0`). Eight groups of 1-4 hex digits, or fewer with one `::`
 * standing for at least one group of zeros; the last two may be written as a dotted IPv4 address.
 */
export const isIPv6 = (s: string): boolean => {
  if (!s.includes(':') || s.includes('%')) return false;
  const gap = s.indexOf('::');
  if (gap >= 0 && s.includes('::', gap + 1)) return false;
  const split = (t: string) => (t === '' ? [] : t.split(':'));
  const groups = gap >= 0 ? [...split(s.slice(0, gap)), ...split(s.slice(gap + 2))] : split(s);
  let count = groups.length;
  // Dotted IPv4 only as the text's last part (not before a trailing `::`).
  if (!s.endsWith('::') && groups[count - 1]?.includes('.')) {
    if (parseIPv4(groups.pop()!) === null) return false;
    count += 1;
  }
  if (!groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return gap >= 0 ? count <= 7 : count === 8;
};
export const isIP = (s: string): boolean => isIPv4(s) || isIPv6(s);

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "a.b.c.d/p" (a bare address counts as /32). `network` has the host bits cleared; `address` keeps them. */
export function parseCidr4(s: string): { network: number; prefix: number; address: number } | null {
  const slash = s.indexOf('/');
  const addr = parseIPv4(slash < 0 ? s : s.slice(0, slash));
  if (addr === null) return null;
  let prefix = 32;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^(0|[1-9][0-9]?)$/.test(p) || Number(p) > 32) return null;
    prefix = Number(p);
  }
  return { network: (addr & mask(prefix)) >>> 0, prefix, address: addr };
}

/** The two ends of the veth link: host = network+1, namespace = network+2. Throws on a subnet too small for both. */
export function cidrHosts(cidr: string): { host: string; ns: string; prefix: number; network: string; broadcast: string } {
  const c = parseCidr4(cidr);
  if (!c) throw new TypeError(`not an IPv4 CIDR: ${cidr}`);
  if (c.prefix > 30) throw new RangeError(`${cidr} has no room for two hosts; use a prefix of /30 or shorter`);
  const broadcast = (c.network | (~mask(c.prefix) >>> 0)) >>> 0;
  return {
    host: formatIPv4(c.network + 1),
    ns: formatIPv4(c.network + 2),
    prefix: c.prefix,
    network: formatIPv4(c.network),
    broadcast: formatIPv4(broadcast),
  };
}

/** Whether two IPv4 CIDRs (or single addresses) share any address. Throws on input that is not IPv4. */
export function cidrOverlaps(a: string, b: string): boolean {
  const x = parseCidr4(a);
  const y = parseCidr4(b);
  if (!x || !y) throw new TypeError(`not an IPv4 CIDR: ${x ? b : a}`);
  const m = mask(Math.min(x.prefix, y.prefix));
  return ((x.network & m) >>> 0) === ((y.network & m) >>> 0);
}

export interface HostPort {
  host: string;
  port: number;
}

/** What parseHostPort found, or what is wrong with the text (`detail` fits after a location prefix). */
export type HostPortResult = ({ ok: true } & HostPort) | { ok: false; detail: string };

/**
 * The one reader of "host:port", "ipv4:port" and "[ipv6]:port" (the host comes back without
 * brackets). A host without brackets must be an IPv4 address or a host name; in brackets, an IPv6
 * address. The port is plain decimal 1..65535. Callers turn a failure into their own message.
 */
export function parseHostPort(text: string): HostPortResult {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return { ok: false, detail: `"${text}" has "[" without "]"; write an IPv6 address as "[2001:db8::1]:51820"` };
    host = text.slice(1, close);
    if (!isIPv6(host)) return { ok: false, detail: `"${host}" in brackets is not an IPv6 address` };
    if (text[close + 1] !== ':') return { ok: false, detail: `"${text}" has no port; write "[${host}]:PORT"` };
    portText = text.slice(close + 2);
  } else {
    const colons = text.split(':').length - 1;
    if (colons === 0) return { ok: false, detail: `"${text}" has no port; write "${text}:PORT"` };
    if (colons > 1) return { ok: false, detail: `"${text}" is ambiguous; put an IPv6 address in brackets, as in "[2001:db8::1]:51820"` };
    const colon = text.indexOf(':');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host === '') return { ok: false, detail: `"${text}" has no host before the port` };
    if (!isIPv4(host) && !isHostName(host)) return { ok: false, detail: `"${host}" is neither an IP address nor a host name` };
  }
  const port = parsePort(portText);
  if (port === undefined) return { ok: false, detail: `bad port "${portText}" in "${text}"; expected an integer from 1 to 65535` };
  return { ok: true, host, port };
}

/** "host:port", with brackets around an IPv6 address: the inverse of parseHostPort. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An integer 1..65535 written in plain decimal (no sign, no leading zero), else undefined. */
export function parsePort(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,4}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

/** A DNS name (letters, digits, `-`, `_`, dots; optional final dot) that is not a malformed IP address. */
export function isHostName(s: string): boolean {
  if (s.length === 0 || s.length > 254) return false;
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  // "10.0.0.300" is a broken address, not a name; resolving it would only confuse.
  if (/^[0-9.]+$/.test(name)) return false;
  return name.split('.').every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

/** 127.0.0.0/8, ::1 in any spelling, and v4-mapped loopback. Brackets around a v6 address are allowed. */
export function isLoopback(addr: string): boolean {
  const a = addr.startsWith('[') && addr.endsWith(']') ? addr.slice(1, -1) : addr;
  const v4 = parseIPv4(a);
  if (v4 !== null) return v4 >>> 24 === 127;
  const groups = ipv6Groups(a);
  if (!groups) return false;
  const zeroTo = (n: number) => groups.slice(0, n).every((g) => g === 0);
  if (zeroTo(7) && groups[7] === 1) return true;
  return zeroTo(5) && groups[5] === 0xffff && groups[6]! >>> 8 === 127;
}

/** The eight 16-bit groups of an IPv6 address (a dotted IPv4 tail counts as two), or null. */
export function ipv6Groups(s: string): number[] | null {
  if (!isIPv6(s)) return null;
  let text = s;
  const lastColon = text.lastIndexOf(':');
  const v4 = parseIPv4(text.slice(lastColon + 1));
  // A dotted tail (::ffff:127.0.0.1) is two groups in disguise.
  if (v4 !== null) text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  const [head, rest] = text.split('::') as [string, string | undefined];
  const hex = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = hex(head);
  const right = rest === undefined ? [] : hex(rest);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** An echo body: the address as text, or JSON with an `ip` field. */
export function parseEcho(body: string): { ip?: string; error?: string } {
  const text = body.trim();
  let candidate = text;
  if (text.startsWith('{')) {
    try {
      const j = JSON.parse(text) as { ip?: unknown };
      candidate = typeof j.ip === 'string' ? j.ip : '';
    } catch {
      /* not JSON after all: judged as text below */
    }
  }
  candidate = candidate.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  if (isIP(candidate)) return { ip: normalizeIp(candidate) };
  return { error: `the answer is not an IP address: ${JSON.stringify(text.slice(0, 60))}` };
}

/**
 * The one written form of an IPv6 address: lower case and compressed as inet_ntop writes it (the
 * form `ip` and the kernel print, dotted for ::ffff:a.b.c.d), so one address written two ways
 * compares equal. IPv4 and anything else come back unchanged.
 */
export function normalizeIp(ip: string): string {
  if (!isIPv6(ip)) return ip;
  try {
    return new SocketAddress({ address: ip, family: 'ipv6' }).address;
  } catch {
    return ip.toLowerCase();
  }
}

/** The 16 bytes of an IPv6 address in network order, or null. */
export function ipv6Bytes(s: string): number[] | null {
  return ipv6Groups(s)?.flatMap((g) => [g >> 8, g & 255]) ?? null;
}

/** An IPv6 address from its 16 bytes (a DNS AAAA record), written as normalizeIp writes it. */
export function ipv6FromBytes(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
  return normalizeIp(groups.join(':'));
}
