// Thin readers over `ip -json`, so checks compare data, not text.
import type { System } from '../sys/system.js';
import { NETNS_DIR } from './netns-peek.js';

export interface IpAddrInfo {
  ifname: string;
  operstate?: string;
  flags?: string[];
  link_netnsid?: number;
  addr_info?: Array<{ family: string; local: string; prefixlen: number; scope?: string }>;
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  prefsrc?: string;
}

function nsArgs(ns?: string): string[] {
  return ns ? ['-n', ns] : [];
}

export async function listAddrs(sys: System, ns?: string, dev?: string): Promise<IpAddrInfo[]> {
  const r = await sys.query(['ip', ...nsArgs(ns), '-json', 'addr', 'show', ...(dev ? ['dev', dev] : [])], {
    allowFail: true,
  });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  return JSON.parse(r.stdout) as IpAddrInfo[];
}

export async function linkExists(sys: System, dev: string, ns?: string): Promise<boolean> {
  const r = await sys.query(['ip', ...nsArgs(ns), '-json', 'link', 'show', 'dev', dev], { allowFail: true });
  return r.code === 0;
}

/** A link's MAC address (lower case), '' for a link without one, or undefined when there is no such link. */
export async function linkAddress(sys: System, dev: string, ns?: string): Promise<string | undefined> {
  const r = await sys.query(['ip', ...nsArgs(ns), '-json', 'link', 'show', 'dev', dev], { allowFail: true });
  if (r.code !== 0) return undefined;
  const link = (JSON.parse(r.stdout || '[]') as Array<{ address?: string }>)[0];
  return (link?.address ?? '').toLowerCase();
}

export async function listRoutes(sys: System, ns?: string, family: '-4' | '-6' = '-4'): Promise<IpRoute[]> {
  const r = await sys.query(['ip', family, ...nsArgs(ns), '-json', 'route', 'show', 'table', 'all'], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return [];
  return JSON.parse(r.stdout) as IpRoute[];
}

/** What `up` first looks at on the host: every link (with its addresses) and the IPv4 routes of every table. */
export interface HostLook {
  links: IpAddrInfo[];
  routes: IpRoute[];
}

/**
 * listAddrs() and listRoutes() of the host, from one `ip -batch` (one process start on the way to
 * the first byte instead of two). ip prints each command's JSON on a line of its own (strings
 * escape newlines); a batch without IPv6 asked for lists the routes of both families, so the IPv6
 * ones are left out here, as `-4` would. Anything unexpected: the two commands, one at a time.
 */
export async function hostLook(sys: System): Promise<HostLook> {
  const r = await sys.query(['ip', '-json', '-batch', '-'], { input: 'addr show\nroute show table all\n', allowFail: true });
  const lines = r.stdout.split('\n').filter((l) => l.trim());
  if (r.code === 0 && lines.length === 2) {
    try {
      const [links, routes] = lines.map((l) => JSON.parse(l) as unknown);
      if (Array.isArray(links) && Array.isArray(routes)) {
        return { links: links as IpAddrInfo[], routes: (routes as IpRoute[]).filter((x) => !x.dst?.includes(':')) };
      }
    } catch {
      /* below */
    }
  }
  const [links, routes] = await Promise.all([listAddrs(sys), listRoutes(sys)]);
  return { links, routes };
}

/**
 * Whether `ip netns list` would list NS: its file under /run/netns, the directory that command
 * lists (iproute2's NETNS_RUN_DIR), looked at without starting a process (`up` asks several times).
 */
export function netnsExists(sys: System, ns: string): Promise<boolean> {
  return sys.exists(`${NETNS_DIR}/${ns}`);
}

export function hasAddr(info: IpAddrInfo[], addr: string, prefix: number): boolean {
  return info.some((i) => i.addr_info?.some((a) => a.local === addr && a.prefixlen === prefix));
}
