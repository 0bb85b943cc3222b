// The kill switch: one inet table inside the namespace, loaded before the VPN client starts and
// kept through every restart. Out of the namespace go only loopback, the tunnel, replies to the
// host, and the VPN client's own packets, matched as narrowly as the provider allows.
import type { Resource } from '../plan/resource.js';
import { deleteTable, listTable, loadTable, q } from './nft.js';
import { isIPv6 } from '../config/net-utils.js';

/** How the VPN client's own packets (to its server) are recognised on the veth. */
export type ClientTraffic =
  | { kind: 'endpoint'; ip: string; port: number; proto: 'udp' | 'tcp' }
  | { kind: 'gid'; gid: number }
  | { kind: 'mark'; mark: number };

export interface KillSwitchSpec {
  table: string;
  vethNs: string;
  hostAddr: string;
  tunnel: string;
  client: ClientTraffic[];
}

export function renderClientRule(vethNs: string, c: ClientTraffic): string {
  const veth = q(vethNs);
  switch (c.kind) {
    case 'endpoint': {
      const fam = isIPv6(c.ip) ? 'ip6' : 'ip';
      return `oifname ${veth} ${fam} daddr ${c.ip} ${c.proto} dport ${c.port} accept comment "VPN client to its server"`;
    }
    case 'gid':
      return `oifname ${veth} meta skgid ${c.gid} accept comment "VPN client (its own group)"`;
    case 'mark':
      return `oifname ${veth} meta mark ${c.mark} accept comment "VPN client (its own fwmark)"`;
  }
}

export function renderKillSwitch(s: KillSwitchSpec): string {
  const veth = q(s.vethNs);
  const client = s.client.map((c) => `\t\t${renderClientRule(s.vethNs, c)}\n`).join('');
  return `table inet ${s.table} {
	counter blocked {
		comment "packets the kill switch refused to let out"
	}
	chain output {
		type filter hook output priority filter; policy drop;
		oifname "lo" accept
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
  return { table: ctx.names.nsTable, vethNs: ctx.names.vethNs, hostAddr: ctx.names.hostAddr, tunnel, client };
}

export const killSwitchResource: Resource = {
  id: 'killswitch',
  title: 'kill switch (nftables inside)',
  async check(ctx) {
    const listed = await listTable(ctx.sys, 'inet', ctx.names.nsTable, ctx.names.ns);
    if (!listed) return false;
    // Every client rule must be present: endpoints may have changed since the last `up`.
    return killSwitchSpec(ctx).client.every((c) => listed.includes(clientFingerprint(c)));
  },
  async apply(ctx) {
    await loadTable(ctx.sys, 'inet', ctx.names.nsTable, renderKillSwitch(killSwitchSpec(ctx)), ctx.names.ns);
  },
  async remove(ctx) {
    return deleteTable(ctx.sys, 'inet', ctx.names.nsTable, ctx.names.ns);
  },
};

function clientFingerprint(c: ClientTraffic): string {
  switch (c.kind) {
    case 'endpoint':
      return `daddr ${c.ip} ${c.proto} dport ${c.port}`;
    case 'gid':
      return `skgid ${c.gid}`;
    case 'mark':
      return `mark ${c.mark === 0 ? '0x00000000' : `0x${c.mark.toString(16).padStart(8, '0')}`}`;
  }
}
