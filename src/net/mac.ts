// Stable MAC addresses for the veth ends. The kernel gives a new veth a random MAC on every `up`;
// programs that bind state to the MAC (AdGuard VPN's login session) then see a new machine after
// each down/up or reboot. Derived from the namespace name alone, the address is the same every time.
import { createHash } from 'node:crypto';

export type VethEnd = 'host' | 'ns';

/**
 * A locally administered unicast MAC (first octet 02: the "local" bit set, the multicast bit clear,
 * so it can never be a vendor's address) from a hash of the namespace name and the end.
 */
export function vethMac(ns: string, end: VethEnd): string {
  const h = createHash('sha256').update(`vpnns veth ${end} ${ns}`).digest();
  const bytes = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
