// The kill switch: one inet table inside the namespace, loaded before the VPN client starts and
// kept through every restart. Out of the namespace go only loopback, the tunnel, replies to the
// host, and the VPN client's own packets, matched as narrowly as the provider allows.
import type { Resource } from '../plan/resource.js';
import { deleteTable, listTable, loadTable, q, replaceTableScript } from './nft.js';
import { isIPv6 } from '../config/net-utils.js';
import { proxyIdentity } from '../services/proxy-identity.js';
import { cgroupId, ensureClientCgroup, type ClientCgroup } from '../sys/client-cgroup.js';

/**
 * Who sent a packet: a property only the VPN client's sockets can have. A destination alone is not
 * enough (any process inside could send to the server from the host's real address, outside the
 * tunnel), so every rule that lets something out of the veth names its sender.
 * - mark: the client sets SO_MARK on its sockets (WireGuard FwMark, OpenVPN --mark); that needs
 *   CAP_NET_ADMIN over the namespace, which nothing inside but vpnns's own root processes has.
 * - gid: the client runs as root with a group no one else has (setpriv --regid --clear-groups);
 *   matched together with uid 0, so a setgid file of that group would not be enough either.
 * - cgroup: the client runs in a cgroup v2 of vpnns's (src/vpn/client-cgroup.ts); whatever it
 *   becomes (sudo, another group, a forked daemon) its sockets are that cgroup's, and only root
 *   can move a process into it.
 */
export type ClientSender = { mark: number } | { gid: number };

/** How the VPN client's own packets (to its server) are recognised on the veth. */
export type ClientTraffic =
  | { kind: 'endpoint'; ip: string; port: number; proto: 'udp' | 'tcp'; sender: ClientSender }
  | { kind: 'gid'; gid: number }
  | { kind: 'mark'; mark: number }
  | { kind: 'cgroup'; cgroup: ClientCgroup };

export interface KillSwitchSpec {
  table: string;
  vethNs: string;
  hostAddr: string;
  tunnel: string;
  client: ClientTraffic[];
  /** The proxies' uid: refused the namespace's loopback (their replies aside). */
  proxies?: { uid: number };
}

function senderMatch(by: ClientSender): string {
  if ('mark' in by) return `meta mark ${int32(by.mark)}`;
  return `meta skuid 0 meta skgid ${int32(by.gid)}`;
}

function senderWords(by: ClientSender): string {
  return 'mark' in by ? 'its fwmark' : 'root, its own group';
}

function int32(n: number): number {
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) throw new Error(`refusing ${n} as a mark or group in an nft ruleset`);
  return n;
}

/** Legacy state (before senders were recorded) has endpoints without one: it must be prepared again. */
export function hasSender(c: ClientTraffic): boolean {
  return c.kind !== 'endpoint' || (typeof c.sender === 'object' && c.sender !== null && ('mark' in c.sender || 'gid' in c.sender));
}

export function renderClientRule(vethNs: string, c: ClientTraffic): string {
  const veth = q(vethNs);
  switch (c.kind) {
    case 'endpoint': {
      const fam = isIPv6(c.ip) ? 'ip6' : 'ip';
      return `oifname ${veth} ${senderMatch(c.sender)} ${fam} daddr ${c.ip} ${c.proto} dport ${c.port} accept comment "VPN client (${senderWords(c.sender)}) to its server"`;
    }
    case 'gid':
      return `oifname ${veth} ${senderMatch({ gid: c.gid })} accept comment "VPN client (${senderWords({ gid: c.gid })})"`;
    case 'mark':
      return `oifname ${veth} ${senderMatch({ mark: c.mark })} accept comment "VPN client (${senderWords({ mark: c.mark })})"`;
    case 'cgroup':
      return `oifname ${veth} ${cgroupMatch(c.cgroup)} accept comment "VPN client (its cgroup, whatever its user or group)"`;
  }
}

function cgroupMatch(cg: ClientCgroup): string {
  if (!/^[A-Za-z0-9/_.-]+$/.test(cg.nftPath) || cg.nftPath.includes('..')) throw new Error(`refusing ${JSON.stringify(cg.nftPath)} as a cgroup in an nft ruleset`);
  if (!Number.isInteger(cg.level) || cg.level < 1 || cg.level > 255) throw new Error(`refusing cgroup level ${cg.level}`);
  return `socket cgroupv2 level ${cg.level} "${cg.nftPath}"`;
}

const cgroupsOf = (client: ClientTraffic[]): ClientCgroup[] => client.flatMap((c) => (c.kind === 'cgroup' ? [c.cgroup] : []));

export function renderKillSwitch(s: KillSwitchSpec): string {
  const veth = q(s.vethNs);
  const client = s.client.map((c) => `\t\t${renderClientRule(s.vethNs, c)}\n`).join('');
  // A host user of the proxies must not reach what listens on loopback or on the namespace's own
  // address inside (apps, the VPN client's local DNS): both go out "lo". On the veth the proxies
  // get only what everyone gets: replies to the host.
  const proxies = s.proxies
    ? `\t\toifname "lo" meta skuid ${int32(s.proxies.uid)} ct direction original reject with icmpx admin-prohibited comment "the proxies never reach the namespace's own addresses"\n`
    : '';
  return `table inet ${s.table} {
	counter blocked {
		comment "packets the kill switch refused to let out"
	}
	chain output {
		type filter hook output priority filter; policy drop;
${proxies}		oifname "lo" accept
		oifname ${q(s.tunnel)} accept comment "everything else leaves through the tunnel"
		oifname ${veth} ip daddr ${s.hostAddr} ct state established,related accept comment "replies to the host: proxies, published ports"
${client}		counter name "blocked" reject with icmpx admin-prohibited comment "fail at once instead of hanging"
	}
	chain input {
		type filter hook input priority filter; policy drop;
		iifname "lo" accept
		ct state established,related accept
		iifname ${veth} ip saddr ${s.hostAddr} accept comment "the host reaches proxies and published ports"
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
	}
}
`;
}

export function killSwitchSpec(ctx: Parameters<Resource['check']>[0]): KillSwitchSpec {
  const client = (ctx.state.runtime.clientTraffic as ClientTraffic[] | undefined) ?? [];
  // The provider names the tunnel (AdGuard makes its own tunN: a prefix pattern).
  const tunnel = (ctx.state.runtime.tunnel as string | undefined) ?? ctx.names.tunnel;
  return { table: ctx.names.nsTable, vethNs: ctx.names.vethNs, hostAddr: ctx.names.hostAddr, tunnel, client, proxies: proxyIdentity() };
}

export const killSwitchResource: Resource = {
  id: 'killswitch',
  title: 'kill switch (nftables inside)',
  async check(ctx) {
    const listed = await listTable(ctx.sys, 'inet', ctx.names.nsTable, ctx.names.ns);
    if (!listed) return false;
    // Every client rule must be present: endpoints may have changed since the last `up`.
    const spec = killSwitchSpec(ctx);
    if (spec.proxies && !listed.includes("the proxies never reach the namespace's own addresses")) return false;
    return spec.client.every((c) => hasSender(c) && listed.includes(clientFingerprint(c)));
  },
  async apply(ctx) {
    const spec = killSwitchSpec(ctx);
    const cgroups = cgroupsOf(spec.client);
    if (!cgroups.length) return loadTable(ctx.sys, 'inet', ctx.names.nsTable, renderKillSwitch(spec), ctx.names.ns);
    // nft turns a cgroup path into its id when loading: the cgroup must exist (a reboot or a crash
    // may have removed it), and nft must see /sys/fs/cgroup, which `ip netns exec` hides behind its
    // own sysfs: nsenter enters the network namespace alone.
    for (const cg of cgroups) await ensureClientCgroup(ctx.sys, cg);
    await ctx.sys.change(['nsenter', `--net=/run/netns/${ctx.names.ns}`, '--', 'nft', '-f', '-'], {
      input: replaceTableScript('inet', ctx.names.nsTable, renderKillSwitch(spec)),
    });
  },
  async remove(ctx) {
    return deleteTable(ctx.sys, 'inet', ctx.names.nsTable, ctx.names.ns);
  },
};

/** The rule's match as `nft list` prints it (marks in hex). */
function clientFingerprint(c: ClientTraffic): string {
  const sender = (by: ClientSender) => ('mark' in by ? `meta mark 0x${by.mark.toString(16).padStart(8, '0')}` : `meta skuid 0 meta skgid ${by.gid}`);
  switch (c.kind) {
    case 'endpoint':
      return `${sender(c.sender)} ${isIPv6(c.ip) ? 'ip6' : 'ip'} daddr ${c.ip} ${c.proto} dport ${c.port}`;
    case 'gid':
      return `${sender({ gid: c.gid })} accept`;
    case 'mark':
      return `${sender({ mark: c.mark })} accept`;
    case 'cgroup':
      // Listed through `ip netns exec` nft cannot resolve the id back to a path and prints the
      // number: a cgroup made again since (another id) no longer matches, so the table is reloaded.
      return `socket cgroupv2 level ${c.cgroup.level} ${cgroupId(c.cgroup) ?? 'missing'} accept`;
  }
}
