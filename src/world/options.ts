// Options of a world and their defaults. Every address is an option so that
// another world (e.g. an independent checker's) can use different ones; the
// defaults stay inside documentation and private ranges, never 192.0.2.0/24
// or fd00::/64 (this machine's own uplink).
import { randomBytes } from 'node:crypto';
import type { DnsRecordSet, HttpModuleServiceConfig } from './service-config.js';

export interface WorldAddresses {
  /** The host's uplink address and prefix length, and the wan router on that link. */
  hostPublic: string;
  hostPrefix: number;
  wanGw: string;
  hostPublic6: string;
  hostPrefix6: number;
  wanGw6: string;
  /** Services on wan. */
  ispResolver: string;
  echo: string;
  echo6: string;
  /** wan's own address on the link to the VPN server (a /32 and /128, routed on-link). */
  vsrvGw: string;
  vsrvGw6: string;
  /** VPN server's public addresses: endpoint (both VPNs listen here) and OpenVPN's NAT source. */
  vpnPublic: string;
  vpnPublic6: string;
  ovpnPublic: string;
  /** Tunnel networks (v4 /24 only); the server and the provider's resolver take the .1. */
  wgNet: string;
  ovpnNet: string;
  /** The host's LAN address and its neighbour, and what the neighbour routes to the host. */
  hostLan: string;
  lanNeighbour: string;
  lanPrefix: number;
  lanRouteViaHost: string;
}

export const DEFAULT_ADDRESSES: WorldAddresses = {
  hostPublic: '203.0.113.10',
  hostPrefix: 24,
  wanGw: '203.0.113.1',
  hostPublic6: '2001:db8:1::10',
  hostPrefix6: 64,
  wanGw6: '2001:db8:1::1',
  ispResolver: '198.51.100.53',
  echo: '198.51.100.80',
  echo6: '2001:db8:100::80',
  vsrvGw: '198.51.100.1',
  vsrvGw6: '2001:db8:100::1',
  vpnPublic: '198.51.100.10',
  vpnPublic6: '2001:db8:100::10',
  ovpnPublic: '198.51.100.11',
  wgNet: '10.66.0.0/24',
  ovpnNet: '10.67.0.0/24',
  hostLan: '192.168.77.1',
  lanNeighbour: '192.168.77.2',
  lanPrefix: 24,
  lanRouteViaHost: '10.0.0.0/8',
};

export interface WireguardOptions {
  port?: number;
  /** How many client key pairs/addresses to provision (default 3). */
  clients?: number;
}

export interface OpenvpnOptions {
  proto?: 'udp' | 'tcp';
  port?: number;
}

/** An HTTP(S) plug-in service on wan; the log path is filled in by the world. */
export type WanServiceOptions = Omit<HttpModuleServiceConfig, 'kind' | 'log' | 'tls'> & { tls?: boolean };

export interface WorldOptions {
  /** Namespace/interface prefix; default "vt" + 4 random hex digits. At most 10 characters. */
  prefix?: string;
  zone?: string;
  /** Default true. */
  wireguard?: boolean | WireguardOptions;
  /** Default true. */
  openvpn?: boolean | OpenvpnOptions;
  /** Leave an iptables-nft style `table ip filter` FORWARD policy drop in the host namespace. */
  hostForwardDrop?: boolean;
  /** Extra names served by every resolver (merged over the built-in ones). */
  extraRecords?: Record<string, DnsRecordSet>;
  /** Extra addresses for wan's service interface (for extraServices or extraRecords targets). */
  extraWanAddresses?: string[];
  /** Plug-in HTTP(S) services in wan. With tls: true they use the wan certificate, which covers every extraRecords name. */
  extraServices?: WanServiceOptions[];
  addresses?: Partial<WorldAddresses>;
}

export interface ResolvedOptions {
  prefix: string;
  zone: string;
  wireguard?: Required<WireguardOptions>;
  openvpn?: Required<OpenvpnOptions>;
  hostForwardDrop: boolean;
  extraRecords: Record<string, DnsRecordSet>;
  extraWanAddresses: string[];
  extraServices: WanServiceOptions[];
  addr: WorldAddresses;
}

export class WorldOptionError extends Error {}

export function resolveOptions(o: WorldOptions = {}): ResolvedOptions {
  const prefix = o.prefix ?? `vt${randomBytes(2).toString('hex')}`;
  // "<prefix>-vsrv" and "<prefix>wgs" must fit IFNAMSIZ-1 = 15 characters.
  if (!/^[a-z][a-z0-9]{0,9}$/.test(prefix)) {
    throw new WorldOptionError(`Expected \`prefix\` to be 1-10 lower-case letters/digits starting with a letter, got ${JSON.stringify(prefix)}`);
  }
  const zone = normalizeName(o.zone ?? 'example.test');
  const wg = o.wireguard ?? true;
  const ov = o.openvpn ?? true;
  const extraRecords: Record<string, DnsRecordSet> = {};
  for (const [name, rec] of Object.entries(o.extraRecords ?? {})) extraRecords[normalizeName(name)] = rec;
  const wireguard = wg === false ? undefined : { port: 51820, clients: 3, ...(wg === true ? {} : wg) };
  const openvpn = ov === false ? undefined : { proto: 'udp' as const, port: 1194, ...(ov === true ? {} : ov) };
  for (const [what, port] of [['wireguard.port', wireguard?.port], ['openvpn.port', openvpn?.port]] as const) {
    if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
      throw new WorldOptionError(`Expected \`${what}\` to be an integer from 1 to 65535, got ${port}`);
    }
  }
  if (wireguard && !(wireguard.clients >= 1 && wireguard.clients <= 200)) {
    throw new WorldOptionError(`Expected \`wireguard.clients\` to be from 1 to 200, got ${wireguard.clients}`);
  }
  return {
    prefix,
    zone,
    ...(wireguard ? { wireguard } : {}),
    ...(openvpn ? { openvpn } : {}),
    hostForwardDrop: o.hostForwardDrop ?? false,
    extraRecords,
    extraWanAddresses: o.extraWanAddresses ?? [],
    extraServices: o.extraServices ?? [],
    addr: { ...DEFAULT_ADDRESSES, ...o.addresses },
  };
}

export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** "10.66.0.0/24", 5 -> "10.66.0.5" (the world only needs small offsets in a /24). */
export function hostInNet(cidr: string, n: number): string {
  const [base = '', len = '32'] = cidr.split('/');
  const value = base.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) + n;
  const size = 2 ** (32 - Number(len));
  if (n <= 0 || n >= size - 1) throw new WorldOptionError(`${cidr} has no host number ${n}`);
  return [24, 16, 8, 0].map((s) => Math.floor(value / 2 ** s) % 256).join('.');
}

export function netmaskOf(cidr: string): string {
  const len = Number(cidr.split('/')[1] ?? 32);
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 255).join('.');
}

export function prefixLenOf(cidr: string): number {
  return Number(cidr.split('/')[1] ?? 32);
}
