// Who the proxies are, in a module without side effects (the kill switch and the host table read
// it; importing proxies.ts would register its services).
import type { Config } from '../config/types.js';
import { lookupUser } from './users.js';

export const PROXY_USER = 'nobody';
export const PROXY_GROUP = 'nogroup';

/**
 * Whose sockets are the proxies': Tinyproxy drops to nobody, and Dante makes its outgoing sockets
 * as its unprivileged user, nobody (seen: a kill switch rule on that uid alone keeps both off the
 * namespace's loopback). A group of their own would need an /etc/group entry for systemd's Group=.
 */
export function proxyIdentity(lookup = lookupUser): { uid: number } {
  return { uid: lookup(PROXY_USER)?.uid ?? 65534 };
}

/** The host addresses the proxies are published on (127.0.0.1:PORT), for the host table's access rules. */
export function proxyPublications(cfg: Config): Array<{ host: string; port: number }> {
  if (cfg.vpn.type === 'none') return [];
  const { socks, http } = cfg.proxies;
  return [socks.enabled && socks.publish ? socks.port : undefined, http.enabled && http.publish ? http.port : undefined]
    .filter((p): p is number => p !== undefined)
    .map((port) => ({ host: '127.0.0.1', port }));
}

