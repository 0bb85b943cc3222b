// Checks that need the machine's state but change nothing: run before `up` touches anything, so a
// mistake is one sentence and nothing half-made.
import type { Config } from '../config/types.js';
import { UsageError } from '../errors.js';
import { cidrOverlaps, parseCidr4, formatIPv4 } from '../config/net-utils.js';
import { listAddrs, listRoutes } from '../net/ip.js';
import type { System } from '../sys/system.js';
import { namesFor } from './names.js';
import { providerFor } from '../vpn/registry.js';
import { requireTools } from '../sys/tools.js';

export interface UsedRange {
  cidr: string;
  what: string;
}

/** IPv4 ranges already in use on the host, except the ones on our own veth. */
export async function usedRanges(sys: System, ownDev: string): Promise<UsedRange[]> {
  const used: UsedRange[] = [];
  for (const link of await listAddrs(sys)) {
    if (link.ifname === ownDev) continue;
    for (const a of link.addr_info ?? []) {
      if (a.family === 'inet') used.push({ cidr: `${a.local}/${a.prefixlen}`, what: `address ${a.local}/${a.prefixlen} on ${link.ifname}` });
    }
  }
  for (const r of await listRoutes(sys)) {
    if (r.dev === ownDev || r.dst === 'default' || !r.dst) continue;
    const type = (r as { type?: string }).type;
    if (type === 'local' || type === 'broadcast') continue;
    const cidr = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    used.push({ cidr, what: `route ${r.dst}${r.dev ? ` on ${r.dev}` : ''}` });
  }
  return used;
}

/** A free /30 to suggest, from 10.200.0.0/16 upwards. */
export function suggestSubnet(used: UsedRange[], prefix = 30): string | undefined {
  const size = 2 ** (32 - prefix);
  const start = parseCidr4('10.200.0.0/16')!.network;
  for (let n = start; n < start + 65536; n += size) {
    const cand = `${formatIPv4(n)}/${prefix}`;
    if (!used.some((u) => cidrOverlaps(u.cidr, cand))) return cand;
  }
  return undefined;
}

export async function preflight(cfg: Config, sys: System): Promise<void> {
  const names = namesFor(cfg);
  const used = await usedRanges(sys, names.vethHost);
  const clash = used.find((u) => cidrOverlaps(u.cidr, names.subnet));
  if (clash) {
    const free = suggestSubnet(used, names.prefix);
    throw new UsageError(
      `network.subnet ${names.subnet} overlaps the host's ${clash.what}; choose a free range${free ? `, e.g. ${free}` : ''}.`,
    );
  }
  if (cfg.vpn.type !== 'none') await requireTools(providerFor(cfg.vpn).tools());
}
