// The wiring of the simulated internet, rendered as data (pure) and applied
// with one `ip -batch`, one `sysctl` and one `nft -f` per namespace.
//
//   lan ──eth0──eth1── host ──eth0──host0── wan ──vsrv0──eth0── vsrv
//                                           │ lo: resolver, echo, plug-ins (/32, /128)
//
// Every `ip` runs with `-n <ns>` (or inside the namespace) and veth pairs are
// created with both ends already in their namespaces, so the root namespace
// is never touched, not even for a moment.
import type { ResolvedOptions } from './options.js';
import { hostInNet } from './options.js';
import { isIPv6 } from '../config/net-utils.js';

export interface Namespaces {
  wan: string;
  host: string;
  lan: string;
  vsrv: string;
}

/** Interface names per namespace; fixed because they only need to be unique inside it. */
export const IFACES = {
  hostUplink: 'eth0',
  hostLan: 'eth1',
  wanToHost: 'host0',
  wanToVsrv: 'vsrv0',
  // Service addresses live on lo: this kernel has no dummy interface type.
  wanServices: 'lo',
  vsrvUplink: 'eth0',
  lanUplink: 'eth0',
} as const;

export interface NamespacePlan {
  ns: string;
  /** Lines for `ip -n <ns> -batch -`. */
  ip: string[];
  sysctl: Record<string, string>;
  /** Ruleset for `nft -f -`, or empty. */
  nft: string;
}

export function namespaceNames(prefix: string): Namespaces {
  return { wan: `${prefix}-wan`, host: `${prefix}-host`, lan: `${prefix}-lan`, vsrv: `${prefix}-vsrv` };
}

function hostAddr(a: string): string {
  return isIPv6(a) ? `${a}/128` : `${a}/32`;
}

function nodad(a: string): string {
  // Without nodad a v6 address stays "tentative" for ~2 s and cannot be bound.
  return isIPv6(a) ? ' nodad' : '';
}

const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];

/**
 * Plans in dependency order: wan creates the veth pairs whose far ends the
 * others configure, so wan's batch must run first; the rest are independent.
 */
export function planTopology(o: ResolvedOptions): { first: NamespacePlan; rest: NamespacePlan[] } {
  const a = o.addr;
  const n = namespaceNames(o.prefix);
  const I = IFACES;
  const vsrvPublic = uniq([a.vpnPublic, a.ovpnPublic, a.vpnPublic6]);
  const serviceAddrs = uniq([a.ispResolver, a.echo, a.echo6, ...o.extraWanAddresses]);

  const wan: NamespacePlan = {
    ns: n.wan,
    ip: [
      'link set lo up',
      ...serviceAddrs.map((s) => `addr add ${hostAddr(s)} dev ${I.wanServices}${nodad(s)}`),
      `link add ${I.wanToHost} type veth peer name ${I.hostUplink} netns ${n.host}`,
      `addr add ${a.wanGw}/${a.hostPrefix} dev ${I.wanToHost}`,
      `addr add ${a.wanGw6}/${a.hostPrefix6} dev ${I.wanToHost} nodad`,
      `link set ${I.wanToHost} up`,
      `link add ${I.wanToVsrv} type veth peer name ${I.vsrvUplink} netns ${n.vsrv}`,
      `addr add ${hostAddr(a.vsrvGw)} dev ${I.wanToVsrv}`,
      `addr add ${hostAddr(a.vsrvGw6)} dev ${I.wanToVsrv} nodad`,
      `link set ${I.wanToVsrv} up`,
      ...vsrvPublic.map((p) => `route add ${hostAddr(p)} dev ${I.wanToVsrv}`),
    ],
    // wan is the internet's router. It deliberately has no default route:
    // anything not in the world is unreachable, so nothing can leak out.
    sysctl: { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' },
    nft: '',
  };

  const host: NamespacePlan = {
    ns: n.host,
    ip: [
      'link set lo up',
      `addr add ${a.hostPublic}/${a.hostPrefix} dev ${I.hostUplink}`,
      `addr add ${a.hostPublic6}/${a.hostPrefix6} dev ${I.hostUplink} nodad`,
      `link set ${I.hostUplink} up`,
      `route add default via ${a.wanGw} dev ${I.hostUplink}`,
      `route add default via ${a.wanGw6} dev ${I.hostUplink}`,
      `link add ${I.hostLan} type veth peer name ${I.lanUplink} netns ${n.lan}`,
      `addr add ${a.hostLan}/${a.lanPrefix} dev ${I.hostLan}`,
      `link set ${I.hostLan} up`,
    ],
    // Explicitly off, as on a typical desktop, so tests see vpnns turn it on.
    // (IPv4 settings of a new namespace are inherited from the root namespace.)
    sysctl: { 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0' },
    // What Docker or ufw leave behind through iptables-nft.
    nft: o.hostForwardDrop
      ? 'table ip filter {\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy drop;\n\t}\n}\n'
      : '',
  };

  const lan: NamespacePlan = {
    ns: n.lan,
    ip: [
      'link set lo up',
      `addr add ${a.lanNeighbour}/${a.lanPrefix} dev ${I.lanUplink}`,
      `link set ${I.lanUplink} up`,
      // Only the VPN-namespace range goes to the host: the neighbour tries to
      // reach what it should not, and nothing else.
      `route add ${a.lanRouteViaHost} via ${a.hostLan} dev ${I.lanUplink}`,
    ],
    sysctl: {},
    nft: '',
  };

  const vsrv: NamespacePlan = {
    ns: n.vsrv,
    ip: [
      'link set lo up',
      ...vsrvPublic.map((p) => `addr add ${hostAddr(p)} dev ${I.vsrvUplink}${nodad(p)}`),
      `link set ${I.vsrvUplink} up`,
      `route add ${hostAddr(a.vsrvGw)} dev ${I.vsrvUplink}`,
      `route add default via ${a.vsrvGw} dev ${I.vsrvUplink} src ${a.vpnPublic}`,
      `route add ${hostAddr(a.vsrvGw6)} dev ${I.vsrvUplink}`,
      `route add default via ${a.vsrvGw6} dev ${I.vsrvUplink} src ${a.vpnPublic6}`,
    ],
    sysctl: {
      'net.ipv4.ip_forward': '1',
      // The provider's resolver binds the tunnel addresses, which vanish
      // whenever a VPN server is stopped; non-local bind lets it start first
      // and keep its sockets across restarts.
      'net.ipv4.ip_nonlocal_bind': '1',
    },
    nft: renderVsrvNat(o),
  };

  return { first: wan, rest: [host, lan, vsrv] };
}

/** Tunnel clients leave through the server's public addresses, as at a real provider. */
export function renderVsrvNat(o: ResolvedOptions): string {
  const a = o.addr;
  const rules: string[] = [];
  if (o.wireguard) rules.push(`ip saddr ${a.wgNet} oifname "${IFACES.vsrvUplink}" snat to ${a.vpnPublic}`);
  if (o.openvpn) rules.push(`ip saddr ${a.ovpnNet} oifname "${IFACES.vsrvUplink}" snat to ${a.ovpnPublic}`);
  if (!rules.length) return '';
  return `table ip world_nat {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n${rules
    .map((r) => `\t\t${r}\n`)
    .join('')}\t}\n}\n`;
}

/** The provider resolver's addresses: the .1 of each tunnel network in use. */
export function vpnResolverAddresses(o: ResolvedOptions): string[] {
  const out: string[] = [];
  if (o.wireguard) out.push(hostInNet(o.addr.wgNet, 1));
  if (o.openvpn) out.push(hostInNet(o.addr.ovpnNet, 1));
  return out;
}
