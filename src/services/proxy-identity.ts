// Who the proxies are, in a module without side effects (the kill switch and the host table read
// it; importing proxies.ts would register its services).
import type { Config } from '../config/types.js';
import { lookupUser } from './users.js';

export const PROXY_USER = 'nobody';
export const PROXY_GROUP = 'nogroup';

/**
 * The group both proxies are launched with (setpriv --regid, as for the VPN client), so the kill
 * switch knows their sockets even where Dante makes one as root: it refuses them the namespace's
 * own loopback and addresses (apps listen there), and the link only carries their replies.
 */
export const PROXY_GID = Number(process.env.VPNNS_PROXY_GID ?? 51821);

/** Whose sockets are the proxies': Tinyproxy and Dante's children run as nobody, and both start with PROXY_GID. */
export function proxyIdentity(lookup = lookupUser): { uid: number; gid: number } {
  return { uid: lookup(PROXY_USER)?.uid ?? 65534, gid: PROXY_GID };
}

/** The host addresses the proxies are published on (127.0.0.1:PORT), for the host table's access rules. */
export function proxyPublications(cfg: Config): Array<{ host: string; port: number }> {
  if (cfg.vpn.type === 'none') return [];
  const { socks, http } = cfg.proxies;
  return [socks.enabled && socks.publish ? socks.port : undefined, http.enabled && http.publish ? http.port : undefined]
    .filter((p): p is number => p !== undefined)
    .map((port) => ({ host: '127.0.0.1', port }));
}

