// Published ports: each `publish` entry becomes a forwarder on the host, from its host address
// (loopback unless written otherwise) to the same or another port on the namespace address.
import type { Config, PublishConfig, PublishVia } from '../config/types.js';
import type { Names } from '../core/names.js';
import type { ServiceSpec } from '../core/services.js';
import { registerServices } from '../core/services.js';
import { isLoopback, parseIPv4, type HostPort } from '../config/net-utils.js';
import { forwardProcess, requireHostPort } from './forward.js';
import { ADDED_ORIGIN } from './added-publications.js';

export interface Publication {
  name: string;
  listen: HostPort;
  target: HostPort;
  /** Who asked: "publish[0]", "apps.code-server", "proxies.socks". */
  origin: string;
  via: PublishVia;
}

export function publication(p: PublishConfig, names: Pick<Names, 'nsAddr'>, origin: string): Publication {
  const target = p.target ?? p.port!;
  const listen = requireHostPort(p.host ?? `127.0.0.1:${p.port ?? target}`);
  return { name: `forward-${listen.port}`, listen, target: { host: names.nsAddr, port: target }, origin, via: p.via ?? 'forwarder' };
}

/** Every host port vpnns will listen on for this config (publish entries and apps' ports). */
export function publications(cfg: Config, names: Pick<Names, 'nsAddr'>): Publication[] {
  const out = cfg.publish.map((p, i) => publication(p, names, p.added ? ADDED_ORIGIN : `publish[${i}]`));
  for (const [app, a] of Object.entries(cfg.apps)) {
    a.publish.forEach((p, i) => out.push(publication(p, names, `apps.${app}.publish[${i}]`)));
  }
  return out;
}

/** One sentence per publication bound beyond loopback: those are reachable from the network. */
export function exposureWarnings(pubs: Publication[]): string[] {
  return pubs
    .filter((p) => !isLoopback(p.listen.host))
    .map(
      (p) =>
        `${p.origin} listens on ${p.listen.host}:${p.listen.port}, which other machines on the network can reach; use 127.0.0.1 unless that is what you want.`,
    );
}

/** The publications the kernel carries (nftables DNAT in the host table): no process of their own. */
export function kernelPublications(cfg: Config, names: Pick<Names, 'nsAddr'>): Publication[] {
  return publications(cfg, names).filter((p) => p.via === 'kernel');
}

/**
 * A forwarder publication on an IPv4 loopback address (the default, 127.0.0.1:PORT) whose host
 * connections the kernel carries: the forwarder process holds the port (nobody else can listen
 * there, a port in use fails at once, the supervisor restarts and reports it) while the host
 * table's output NAT sends every connection made on this host straight to the namespace, at the
 * direct veth path's speed (a user-space relay reaches 0.4-0.6x on 2 cores: BENCHMARKS.md). [::1]
 * (the kernel cannot NAT IPv6 loopback into the IPv4 namespace) and LAN binds (connections from
 * other machines) stay relayed by the process.
 */
export function hasKernelFastPath(p: Pick<Publication, 'via' | 'listen'>): boolean {
  return p.via === 'forwarder' && parseIPv4(p.listen.host) !== null && isLoopback(p.listen.host);
}

/** Every publication with a DNAT rule in the host table: `via: kernel` and the forwarders' fast paths. */
export function dnatPublications(cfg: Config, names: Pick<Names, 'nsAddr'>): Publication[] {
  return publications(cfg, names).filter((p) => p.via === 'kernel' || hasKernelFastPath(p));
}

export function publishServices(cfg: Config, names: Names): ServiceSpec[] {
  return publications(cfg, names).filter((p) => p.via !== 'kernel').map((p) => ({
    name: p.name,
    process: forwardProcess({ name: p.name, listen: p.listen, target: p.target }),
    // Host side, independent of the tunnel: a connection while the app is down is simply closed.
    needsTunnel: false,
  }));
}

registerServices(publishServices);
