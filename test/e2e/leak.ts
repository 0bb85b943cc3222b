// Leak judging shared by the e2e suites: a capture on the world's side of the host's uplink, and
// the rule that every packet from the host's public addresses must be explicitly allowed.
//
// Host-originated vs forwarded: the host's own packets reach the wan side with the initial TTL
// (64, Linux's default), while packets from the VPN namespace were routed once by the host and
// arrive with 63. So a capture can keep the host's legitimate traffic (vpnns's own host-side
// probe, `up` resolving the VPN endpoint) apart from anything that escaped the namespace.
import type { World } from '../world/world.js';
import type { Capture } from '../world/capture.js';

/** Linux's default initial TTL (net.ipv4.ip_default_ttl) in the world's host namespace. */
export const HOST_TTL = 64;

export type Origin = 'any' | 'forwarded' | 'host';

/**
 * tcpdump filter for packets from the host's public addresses, minus the host kernel's IPv6
 * neighbour discovery. `forwarded`: only what the host routed (TTL != 64, and all IPv6, which
 * the host itself does not originate in these tests); `host`: only the host's own IPv4.
 */
export function uplinkFilter(w: World, origin: Origin = 'any'): string {
  const v4 = `ip and src host ${w.addr.hostPublic}`;
  const v6 = `ip6 and src host ${w.addr.hostPublic6} and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)`;
  if (origin === 'host') return `${v4} and ip[8] = ${HOST_TTL}`;
  if (origin === 'forwarded') return `(${v4} and ip[8] != ${HOST_TTL}) or (${v6})`;
  return `(${v4}) or (${v6})`;
}

export function startUplinkCapture(w: World, origin: Origin = 'any'): Promise<Capture> {
  return w.capture(w.ns.wan, w.wanIface, uplinkFilter(w, origin));
}

/** Captured lines that no rule allows. */
export function unexpected(lines: string[], allowed: (line: string) => boolean): string[] {
  return lines.filter((l) => !allowed(l));
}

const dots = (ip: string) => ip.replaceAll('.', '\\.');

/** A tcpdump -n line of the host's UDP flow to the WireGuard server (the tunnel itself). */
export function isWireguardFlow(line: string, w: World): boolean {
  return new RegExp(`^\\S+ IP ${dots(w.addr.hostPublic)}\\.\\d+ > ${dots(w.addr.vpnPublic)}\\.${w.wireguard!.port}: UDP`).test(line);
}

/** A tcpdump -n line from the host to `ip`:`port` (TCP or UDP). */
export function isHostTo(line: string, w: World, ip: string, port: number): boolean {
  return new RegExp(`^\\S+ IP ${dots(w.addr.hostPublic)}\\.\\d+ > ${dots(ip)}\\.${port}: `).test(line);
}
