// The kill switch: one inet table inside the namespace, loaded before the VPN client starts and
// kept through every restart. Out of the namespace go only loopback, the tunnel, replies to the
// host, the VPN client's own packets, matched as narrowly as the provider allows, and the
// config's exact exceptions (`allow`), each one destination, protocol and port.
import type { Resource } from '../core/resource.js';
import { createTableScript, deleteTable, listTable, loadTable, q, replaceTableScript } from './nft.js';
import { isIPv6 } from '../config/net-utils.js';
import { proxyIdentity } from '../services/proxy-identity.js';
import { checkAllowTo, describeAllow, normalTo, type AllowConfig } from '../config/exceptions.js';
import { cgroupId, ensureClientCgroup, type ClientCgroup } from '../sys/client-cgroup.js';
import type { ClientSender, ClientTraffic } from '../core/client-traffic.js';

export interface KillSwitchSpec {
  table: string;
  vethNs: string;
  hostAddr: string;
  tunnel: string;
  client: ClientTraffic[];
  /** The proxies' uid: refused the namespace's loopback (their replies aside). */
  proxies?: { uid: number };
  /** The config's exact exceptions (`allow`): these flows, and no others, may leave over the veth. */
  allow?: AllowConfig[];
}

/** The comment that names an exception's rule; `check` compares the listed set with the wanted one. */
export function allowComment(a: AllowConfig): string {
  return `exception ${describeAllow(a)}`;
}

/** One exact exception. Checked again here: the renderer never trusts that validation ran (state files are read back). */
export function renderAllowRule(vethNs: string, a: AllowConfig): string {
  const bad = checkAllowTo(a.to);
  if (bad) throw new Error(`refusing allow entry ${JSON.stringify(a.to)} in an nft ruleset: ${bad}`);
  if (a.proto !== 'tcp' && a.proto !== 'udp') throw new Error(`refusing protocol ${JSON.stringify(a.proto)} in an nft ruleset`);
  if (a.port !== undefined && (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535)) throw new Error(`refusing port ${a.port} in an nft ruleset`);
  const l4 = a.port === undefined ? `meta l4proto ${a.proto}` : `${a.proto} dport ${a.port}`;
  return `oifname ${q(vethNs)} ip daddr ${normalTo(a.to)} ${l4} accept comment "${allowComment(a)}"`;
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
  const allow = (s.allow ?? []).map((a) => `\t\t${renderAllowRule(s.vethNs, a)}\n`).join('');
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
${client}${allow}		counter name "blocked" reject with icmpx admin-prohibited comment "fail at once instead of hanging"
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
  return { table: ctx.names.nsTable, vethNs: ctx.names.vethNs, hostAddr: ctx.names.hostAddr, tunnel, client, proxies: proxyIdentity(), allow: ctx.cfg?.allow ?? [] };
}

export const killSwitchResource: Resource = {
  id: 'killswitch',
  title: 'kill switch (nftables inside)',
  async check(ctx) {
    // A namespace made by this run has no table yet.
    if (ctx.freshNamespace) return false;
    const listed = await listTable(ctx.sys, 'inet', ctx.names.nsTable, ctx.names.ns);
    if (!listed) return false;
    // Every client rule must be present: endpoints may have changed since the last `up`.
    const spec = killSwitchSpec(ctx);
    if (spec.proxies && !listed.includes("the proxies never reach the namespace's own addresses")) return false;
    // Exactly the configured exceptions: one left over from an older config would stay open.
    const want = (spec.allow ?? []).map(allowComment).sort();
    const have = [...listed.matchAll(/comment "(exception [^"]*)"/g)].map((m) => m[1]!).sort();
    if (JSON.stringify(want) !== JSON.stringify(have)) return false;
    return spec.client.every((c) => hasSender(c) && listed.includes(clientFingerprint(c)));
  },
  async apply(ctx) {
    const spec = killSwitchSpec(ctx);
    const cgroups = cgroupsOf(spec.client);
    // In a namespace this run made there is no table to replace: `create table` (which would fail,
    // changing nothing, on one that somehow got there) spares the replace's `delete table` and the
    // wait of its commit.
    const fresh = ctx.freshNamespace === true;
    if (!cgroups.length) return loadTable(ctx.sys, 'inet', ctx.names.nsTable, renderKillSwitch(spec), ctx.names.ns, { fresh });
    // nft turns a cgroup path into its id when loading: the cgroup must exist (a reboot or a crash
    // may have removed it), and nft must see /sys/fs/cgroup, which `ip netns exec` hides behind its
    // own sysfs: nsenter enters the network namespace alone.
    for (const cg of cgroups) await ensureClientCgroup(ctx.sys, cg);
    await ctx.sys.change(['nsenter', `--net=/run/netns/${ctx.names.ns}`, '--', 'nft', '-f', '-'], {
      input: (fresh ? createTableScript : replaceTableScript)('inet', ctx.names.nsTable, renderKillSwitch(spec)),
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
