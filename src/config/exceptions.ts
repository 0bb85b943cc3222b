// The two holes a config may punch on purpose, as values: `allow` (exact destinations that leave
// over the veth instead of the tunnel) and `hostServices` (one host loopback port each, reachable
// inside on 127.0.0.1). Validation lives here so schema.ts, the renderers and `status`/`check`
// read one definition. Pure: no lookups, no I/O.
import { formatIPv4, isIPv6, parseCidr4, parseIPv4 } from './net-utils.js';

export type AllowProto = 'tcp' | 'udp';

export interface AllowConfig {
  /** Numeric IPv4 address or network, host bits zero ("192.168.1.10", "192.168.1.0/24"). */
  to: string;
  /** Unset: every port of `to` for `proto` (warned about). */
  port?: number;
  proto: AllowProto;
}

export interface HostServiceConfig {
  /** Port on 127.0.0.1 inside the namespace. */
  port: number;
  /** Port on the host's 127.0.0.1; default `port` (the schema fills it in; entries built in code may leave it out). */
  target?: number;
}

/** The host port a host service reaches. */
export function hostServiceTarget(s: HostServiceConfig): number {
  return s.target ?? s.port;
}

/** The shortest prefix an exception may have: anything wider sends a large part of the internet around the VPN. */
export const MIN_ALLOW_PREFIX = 8;

const quote = (s: string) => JSON.stringify(s);

/** Ranges that are never a destination of an exception, with the reason in words. */
const NEVER: Array<{ net: string; why: string }> = [
  { net: '0.0.0.0/8', why: 'is "this network", not a destination' },
  { net: '127.0.0.0/8', why: "is the namespace's own loopback; reach a service on the host's loopback with `hostServices`" },
  { net: '224.0.0.0/4', why: 'is multicast' },
  { net: '240.0.0.0/4', why: 'is reserved (and holds the broadcast address)' },
];

/** Why `to` cannot be an exception, or undefined when it can. Numeric IPv4 only: a name would be resolved by whom, and when? */
export function checkAllowTo(v: string): string | undefined {
  const bare = v.split('/')[0]!;
  if (isIPv6(bare)) {
    return `IPv6 exceptions are not supported: the link to the host carries IPv4 only (IPv6 forwarding on the host would stop it from accepting router advertisements); use an IPv4 address, got ${v}`;
  }
  const c = parseCidr4(v);
  if (!c) return `expected a numeric IPv4 address or ADDR/PREFIX like 192.168.1.10 or 192.168.1.0/24 (no host names: a name is resolved once and could point anywhere later), got ${quote(v)}`;
  if (c.prefix === 0) return `0.0.0.0/0 would send everything around the VPN; list the hosts or networks you need instead`;
  if (c.prefix < MIN_ALLOW_PREFIX) return `a prefix shorter than /${MIN_ALLOW_PREFIX} sends a large part of the internet around the VPN, got /${c.prefix}; list the hosts or networks you need instead`;
  if (c.address !== c.network) return `expected a network address (host bits zero), got ${v}; use ${formatIPv4(c.network)}/${c.prefix}`;
  for (const n of NEVER) {
    if (overlaps4(v, n.net)) return `${v} ${n.why}`;
  }
  return undefined;
}

function overlaps4(a: string, b: string): boolean {
  const x = parseCidr4(a)!;
  const y = parseCidr4(b)!;
  const p = Math.min(x.prefix, y.prefix);
  const m = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
  return ((x.network & m) >>> 0) === ((y.network & m) >>> 0);
}

/** Whether `ip` (a single IPv4 address) lies in the exception's destination. */
export function allowCovers(a: Pick<AllowConfig, 'to'>, ip: string): boolean {
  if (parseIPv4(ip) === null) return false;
  return overlaps4(normalTo(a.to), `${ip}/32`);
}

/** "192.168.1.10" → "192.168.1.10/32": the one spelling every renderer uses. */
export function normalTo(to: string): string {
  return to.includes('/') ? to : `${to}/32`;
}

/** "tcp 192.168.77.2/32:8080" (and "every port") for status, check and comments. */
export function describeAllow(a: AllowConfig): string {
  const to = normalTo(a.to).replace(/\/32$/, '');
  return a.port === undefined ? `${a.proto} ${to} (every port)` : `${a.proto} ${to}:${a.port}`;
}

/** What the config cannot refuse but a user must read: one sentence each. */
export function allowWarnings(list: AllowConfig[]): string[] {
  const out: string[] = [];
  list.forEach((a, i) => {
    if (a.port === undefined) out.push(`allow[${i}] (${describeAllow(a)}) has no \`port\`: every ${a.proto} port of ${a.to} leaves around the VPN; add \`port:\` unless that is what you want.`);
    if (!isPrivate4(a.to)) out.push(`allow[${i}] sends traffic to ${a.to}, a public address, around the VPN: that server sees this machine's real address.`);
  });
  return out;
}

const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'];

/** Entirely inside RFC 1918, CGNAT or link-local space. */
export function isPrivate4(to: string): boolean {
  const c = parseCidr4(normalTo(to));
  if (!c) return false;
  return PRIVATE.some((p) => {
    const n = parseCidr4(p)!;
    return c.prefix >= n.prefix && overlaps4(normalTo(to), p);
  });
}

/** Cross-checks the config refuses (one Issue each): the link's own subnet, the VPN's numeric endpoints, duplicates. */
export function allowConflict(list: AllowConfig[], subnet: string, vpnEndpoints: string[]): { index: number; detail: string } | undefined {
  for (const [i, a] of list.entries()) {
    if (overlaps4(normalTo(a.to), subnet)) return { index: i, detail: `${a.to} overlaps the link to the host (${subnet}); the host's end is reached without an exception (use \`hostServices\` for its loopback)` };
    const ep = vpnEndpoints.find((ip) => allowCovers(a, ip));
    if (ep) return { index: i, detail: `${a.to} covers the VPN server ${ep}: only the VPN client may talk to it outside the tunnel; narrow \`to\` so it leaves the server out` };
  }
  return undefined;
}

/** "127.0.0.1:11434 inside -> host 127.0.0.1:11434". */
export function describeHostService(s: HostServiceConfig): string {
  return `127.0.0.1:${s.port} inside -> host 127.0.0.1:${hostServiceTarget(s)}`;
}
