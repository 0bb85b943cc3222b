// Who on the host may reach into the namespace (the proxies, the ports of programs inside) and the
// ports published on the host's loopback: root and the user who brought the namespace up (and the
// users its apps run as). Any other local user is refused by the host table's output chain: the
// namespace's own firewall sees every host connection as coming from 10.0.0.1 and cannot tell them apart.
import type { Config } from '../config/types.js';
import { isLoopback } from '../config/net-utils.js';
import { lookupUser } from '../services/users.js';
import { publications } from '../services/publish.js';
import { proxyPublications } from '../services/proxy-identity.js';
import type { HostPort } from '../config/net-utils.js';
import type { Names } from '../core/names.js';

const UID = /^\d{1,10}$/;

/** The invoking user's uid from sudo/doas/pkexec, never root's; undefined when none is known. */
export function invokerUidFromEnv(env: NodeJS.ProcessEnv = process.env, lookup = lookupUser): number | undefined {
  for (const v of [env.SUDO_UID, env.PKEXEC_UID]) {
    if (v && UID.test(v) && Number(v) !== 0 && Number(v) <= 0xfffffffe) return Number(v);
  }
  for (const name of [env.SUDO_USER, env.DOAS_USER]) {
    const u = name && name !== 'root' ? lookup(name) : undefined;
    if (u && u.uid !== 0) return u.uid;
  }
  return undefined;
}

/**
 * uid 0, the invoker (from the environment of this `up`, else the one `up` recorded in the state)
 * and the apps' users, sorted and unique.
 */
export function hostAccessUids(cfg: Pick<Config, 'apps'>, recorded: number | undefined, env: NodeJS.ProcessEnv = process.env, lookup = lookupUser): number[] {
  const uids = new Set<number>([0]);
  const invoker = invokerUidFromEnv(env, lookup) ?? recorded;
  if (invoker !== undefined) uids.add(invoker);
  for (const a of Object.values(cfg.apps ?? {})) {
    const u = a.user ? lookup(a.user) : undefined;
    if (u) uids.add(u.uid);
  }
  return [...uids].sort((a, b) => a - b);
}

/** Every port vpnns publishes on the host's loopback: publish entries, apps' ports, the proxies'. */
export function loopbackPublications(cfg: Config, names: Pick<Names, 'nsAddr'>): HostPort[] {
  const all = [...publications(cfg, names).map((p) => p.listen), ...proxyPublications(cfg)];
  const seen = new Set<string>();
  return all.filter((l) => {
    const key = `${l.host}:${l.port}`;
    if (!isLoopback(l.host) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
