// Checks that need the machine's state but change nothing: run before `up` touches anything, so a
// mistake is one sentence and nothing half-made.
import type { Config } from '../config/types.js';
import { UsageError } from '../errors.js';
import { cidrOverlaps, parseCidr4, formatIPv4 } from '../config/net-utils.js';
import { hostLook, type HostLook } from '../net/ip.js';
import type { System } from '../sys/system.js';
import { namesFor } from '../core/names.js';
import { providerFor } from '../vpn/registry.js';
import { requireTools } from '../sys/tools.js';
import { canListen } from '../net/ports.js';
import { readState } from '../core/state.js';
import { publications } from '../services/publish.js';
import { runningConfig } from '../services/added-publications.js';
import { isOurSupervisor, strandedOf, supervisorPid, supervisorStart } from '../supervisor/resource.js';

export interface UsedRange {
  cidr: string;
  what: string;
}

/** IPv4 ranges already in use on the host, except the ones on our own veth (`look`: the host's links and routes, if asked already). */
export async function usedRanges(sys: System, ownDev: string, look: Promise<HostLook> = hostLook(sys)): Promise<UsedRange[]> {
  const used: UsedRange[] = [];
  const { links, routes } = await look;
  for (const link of links) {
    if (link.ifname === ownDev) continue;
    for (const a of link.addr_info ?? []) {
      if (a.family === 'inet') used.push({ cidr: `${a.local}/${a.prefixlen}`, what: `address ${a.local}/${a.prefixlen} on ${link.ifname}` });
    }
  }
  for (const r of routes) {
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

export async function preflight(cfg: Config, sys: System, look?: Promise<HostLook>): Promise<void> {
  const names = namesFor(cfg);
  const used = await usedRanges(sys, names.vethHost, look);
  const clash = used.find((u) => cidrOverlaps(u.cidr, names.subnet));
  if (clash) {
    const free = suggestSubnet(used, names.prefix);
    throw new UsageError(
      `network.subnet ${names.subnet} overlaps the host's ${clash.what}; choose a free range${free ? `, e.g. ${free}` : ''}.`,
    );
  }
  if (cfg.vpn.type !== 'none') await requireTools(providerFor(cfg.vpn).tools());
  await checkPortsFree(cfg, names);
}

/** Can we listen there? Only a real bind answers that (another program, another vpnns namespace). */

async function checkPortsFree(cfg: Config, names: ReturnType<typeof namesFor>): Promise<void> {
  // Our own forwarders hold these ports while the namespace is up: a second `up` is fine. So do
  // the processes a killed supervisor left (proven by PID and start time): `up` ends them first.
  const state = await readState(names);
  if (state && (await isOurSupervisor(supervisorPid(state), names.ns, supervisorStart(state)))) return;
  if (state && (await strandedOf(state, names)).length > 0) return;
  const wanted = [...publications(await runningConfig(cfg, names), names)];
  for (const [key, p] of [['socks', cfg.proxies.socks], ['http', cfg.proxies.http]] as const) {
    if (cfg.vpn.type !== 'none' && p.enabled && p.publish) wanted.push({ name: key, listen: { host: '127.0.0.1', port: p.port }, target: { host: names.nsAddr, port: p.port }, origin: `proxies.${key}`, via: 'forwarder' });
  }
  const seen = new Set<string>();
  for (const p of wanted) {
    const key = `${p.listen.host}:${p.listen.port}`;
    if (seen.has(key)) throw new UsageError(`${p.origin} publishes ${key} a second time; give each publication its own host port.`);
    seen.add(key);
    if (!(await canListen(p.listen.host, p.listen.port))) {
      throw new UsageError(`port ${key} (${p.origin}) is already in use on the host; free it or choose another host port.`);
    }
  }
}
