// Every name and address vpnns derives from the config, in one place, so `up`, `down`,
// `status` and the systemd units agree on them.
import { createRequire } from 'node:module';
import type { Config } from '../config/types.js';
import { assertNamespaceName } from '../config/namespace-name.js';
import { cidrHosts } from '../config/net-utils.js';

export { assertNamespaceName, isNamespaceName, NAMESPACE_PATTERN } from '../config/namespace-name.js';

// Fixed, never from the environment: whoever could set it for root would choose where root reads
// state (PIDs it signals, configs it trusts) and writes.
export const RUN_DIR = '/run/vpnns';
export const ETC_NETNS = '/etc/netns';

export interface Names {
  ns: string;
  vethHost: string;
  vethNs: string;
  /** The tunnel interface the VPN client creates inside the namespace. */
  tunnel: string;
  hostAddr: string;
  nsAddr: string;
  prefix: number;
  subnet: string;
  /** nftables table on the host (NAT, forward) and inside the namespace (kill switch). */
  hostTable: string;
  nsTable: string;
  stateDir: string;
  lockFile: string;
  etcDir: string;
}

/** Interface names are at most 15 bytes; long namespace names get a stable hash suffix. */
export function ifName(prefix: string, ns: string): string {
  const full = `${prefix}${ns}`;
  if (full.length <= 15) return full;
  // node:crypto loaded here, not at import: only a long name needs it, and loading it (a dozen
  // internal modules) is a few ms of every `vpnns exec`.
  const { createHash } = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  const hash = createHash('sha256').update(ns).digest('hex').slice(0, 5);
  return `${prefix}${ns.slice(0, 15 - prefix.length - 5)}${hash}`;
}

/** Where a namespace's state lives, from its name alone (for commands that have no config). */
export function stateDirOf(ns: string): Pick<Names, 'stateDir' | 'lockFile'> {
  // Every path under RUN_DIR is built here or in namesFor: the last line of defence for the name.
  assertNamespaceName(ns);
  return { stateDir: `${RUN_DIR}/${ns}`, lockFile: `${RUN_DIR}/${ns}.lock` };
}

export function namesFor(cfg: Pick<Config, 'namespace' | 'network'>): Names {
  const ns = assertNamespaceName(cfg.namespace, 'namespace');
  const h = cidrHosts(cfg.network.subnet);
  return {
    ns,
    vethHost: ifName('vh-', ns),
    vethNs: ifName('vn-', ns),
    tunnel: ifName('vt-', ns),
    hostAddr: h.host,
    nsAddr: h.ns,
    prefix: h.prefix,
    subnet: `${h.network}/${h.prefix}`,
    hostTable: `vpnns-${ns}`,
    nsTable: 'vpnns',
    stateDir: `${RUN_DIR}/${ns}`,
    lockFile: `${RUN_DIR}/${ns}.lock`,
    etcDir: `${ETC_NETNS}/${ns}`,
  };
}
