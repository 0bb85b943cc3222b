// The host side: NAT for the namespace's subnet, forwarding rules for its veth, the DNAT of the
// ports published `via: kernel` and of the default forwarders on 127.0.0.1 (their kernel fast
// path), and who on the host may reach into the namespace and the ports published on loopback, in
// a table of vpnns's own so it never edits anyone else's rules.
import { createHash } from 'node:crypto';
import type { Resource } from '../core/resource.js';
import type { Names } from '../core/names.js';
import { deleteTable, loadTable, tableExists, q } from './nft.js';
import { isLoopback } from '../config/net-utils.js';
import { dnatPublications, type Publication } from '../services/publish.js';
import { runningConfig } from '../services/added-publications.js';
import type { HostPort } from '../config/net-utils.js';
import { hostAccessUids, invokerUidFromEnv, loopbackPublications } from './host-access.js';
import { UsageError } from '../errors.js';

/** Who on the host may open connections into the namespace and to the loopback publications. */
export interface HostAccess {
  /** Always includes 0; the invoking user and the apps' users. */
  uids: number[];
  /** Ports published on the host's loopback (forwarders and kernel DNAT alike). */
  loopback: HostPort[];
}

type HostNames = Pick<Names, 'hostTable' | 'vethHost' | 'nsAddr' | 'subnet'>;

/** nft's match for a listen address: 0.0.0.0 means every address of the host. */
function daddrMatch(host: string): string {
  return host === '0.0.0.0' ? 'fib daddr type local' : `ip daddr ${host}`;
}

function dnatRule(p: Pick<Publication, 'listen' | 'target' | 'origin'>): string {
  return `${daddrMatch(p.listen.host)} tcp dport ${p.listen.port} dnat ip to ${p.target.host}:${p.target.port} comment "${p.origin.replace(/[^\w.[\]-]/g, '_')}"`;
}

/** Loopback publications DNAT a packet whose source is 127.0.0.1 out of the veth: the kernel allows that only with route_localnet. */
export function needsRouteLocalnet(pubs: Array<Pick<Publication, 'listen'>>): boolean {
  return pubs.some((p) => p.listen.host === '0.0.0.0' || isLoopback(p.listen.host));
}

function uidSet(uids: number[]): string {
  const all = [...new Set([0, ...uids])].sort((a, b) => a - b);
  for (const u of all) if (!Number.isInteger(u) || u < 0 || u > 0xfffffffe) throw new Error(`refusing uid ${u} in an nft ruleset`);
  return `{ ${all.join(', ')} }`;
}

function loopbackMatch(l: HostPort): string {
  if (!isLoopback(l.host)) throw new Error(`refusing ${l.host} as a loopback address`);
  if (!Number.isInteger(l.port) || l.port < 1 || l.port > 65535) throw new Error(`refusing port ${l.port}`);
  const host = l.host.replace(/^\[|\]$/g, '');
  return `${host.includes(':') ? 'ip6' : 'ip'} daddr ${host} tcp dport ${l.port}`;
}

/**
 * Locally generated connections into the namespace and to loopback publications: only root and
 * the allowed users. Before the NAT output chain (-100), so a kernel publication is still seen as
 * 127.0.0.1:PORT (after DNAT the daddr is the namespace's, but the hook's output device stays lo,
 * and neither rule would match). After conntrack (-200), for ct state. A LAN-bound publication is
 * for other machines; not matched here.
 */
function renderAccess(veth: string, a: HostAccess): string {
  const uids = uidSet(a.uids);
  const lo = a.loopback.map(
    (l) => `\n\t\toifname "lo" ${loopbackMatch(l)} ct state new meta skuid != ${uids} reject with tcp reset comment "published on loopback: root and the invoking user only"`,
  );
  return `
	chain output {
		type filter hook output priority -150; policy accept;
		oifname ${veth} ct state established,related accept
		oifname ${veth} meta skuid ${uids} accept comment "root and the invoking user reach the proxies and the ports inside"
		oifname ${veth} reject with icmpx admin-prohibited comment "no other local user reaches into the namespace"${lo.join('')}
	}`;
}

export function renderHostTable(
  n: HostNames,
  pubs: Array<Pick<Publication, 'listen' | 'target' | 'origin'>> = [],
  access: HostAccess = { uids: [0], loopback: [] },
): string {
  const veth = q(n.vethHost);
  const fromOutside = pubs.filter((p) => !isLoopback(p.listen.host));
  const published = pubs.length
    ? `
	chain publish_local {
		type nat hook output priority -100; policy accept;
${pubs.map((p) => `\t\t${dnatRule(p)}`).join('\n')}
	}${
      fromOutside.length
        ? `
	chain publish_in {
		type nat hook prerouting priority dstnat; policy accept;
		iifname ${veth} return comment "the namespace never reaches published ports through the host"
${fromOutside.map((p) => `\t\t${dnatRule(p)}`).join('\n')}
	}`
        : ''
    }`
    : '';
  const localnet = needsRouteLocalnet(pubs)
    ? `
	chain input {
		type filter hook input priority filter - 5; policy accept;
		iifname ${veth} ip daddr 127.0.0.0/8 ct direction original counter drop comment "route_localnet is on for published ports: the namespace still must not reach the host's loopback"
	}`
    : '';
  return `table inet ${n.hostTable} {
	chain forward {
		type filter hook forward priority filter - 5; policy accept;
		iifname ${veth} ip saddr ${n.nsAddr} accept comment "out of the namespace"
		iifname ${veth} drop comment "spoofed source from the namespace"
		oifname ${veth} ct state established,related accept comment "replies into the namespace"${
      fromOutside.length ? `\n\t\toifname ${veth} ip daddr ${n.nsAddr} ct status dnat accept comment "published ports (via: kernel)"` : ''
    }
		oifname ${veth} drop comment "nobody but the host itself opens connections into the namespace"
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr ${n.subnet} oifname != ${veth} masquerade${
      pubs.length ? `\n\t\toifname ${veth} ct status dnat masquerade comment "published ports arrive from the host's end, as through a forwarder"` : ''
    }
	}${renderAccess(veth, access)}${published}${localnet}
}
`;
}

async function rendered(ctx: Parameters<Resource['check']>[0]): Promise<{ text: string; key: string; localnet: boolean }> {
  const running = await runningConfig(ctx.cfg, ctx.names);
  // `via: kernel` and the fast path of every forwarder on 127.0.0.1 (services/publish.ts).
  const pubs = dnatPublications(running, ctx.names);
  const access: HostAccess = {
    uids: hostAccessUids(running, ctx.state.runtime.invokerUid as number | undefined),
    loopback: loopbackPublications(running, ctx.names),
  };
  const text = renderHostTable(ctx.names, pubs, access);
  return { text, key: createHash('sha256').update(text).digest('hex').slice(0, 16), localnet: needsRouteLocalnet(pubs) };
}

function foreignTable(names: Pick<Names, 'hostTable'>): { what: string; fix: string } {
  return { what: `nftables table inet ${names.hostTable}`, fix: `remove it with \`nft delete table inet ${names.hostTable}\` if nothing needs it` };
}

export const hostTableResource: Resource = {
  id: 'host-nft',
  title: 'host NAT, forwarding and kernel-published ports (nftables)',
  // Its first load is `create table`, which fails on a table that appeared since `up` looked, and
  // apply then refuses in foreign's sentence: no look again before it is recorded.
  madeExclusively: true,
  async check(ctx) {
    // Published ports change with the config: the table is right only if it is the one we rendered.
    // A recreated veth starts with route_localnet off again.
    const r = await rendered(ctx);
    const localnet = (await ctx.sys.readText(`/proc/sys/net/ipv4/conf/${ctx.names.vethHost}/route_localnet`))?.trim() === '1';
    // The recorded key first: on a first `up` there is none, and `nft` need not be asked.
    return ctx.state.runtime.hostTable === r.key && localnet === r.localnet && (await tableExists(ctx.sys, 'inet', ctx.names.hostTable));
  },
  async apply(ctx) {
    const { sys, names } = ctx;
    const r = await rendered(ctx);
    // Before the DNAT rules exist: the veth is ours, so the setting goes away with it. Written as
    // the file it is (no `sysctl` process); vpnns runs in the host's network namespace, whose
    // settings /proc/sys/net shows it.
    await sys.writeFile(`/proc/sys/net/ipv4/conf/${names.vethHost}/route_localnet`, `${r.localnet ? 1 : 0}\n`, { kernelSetting: true });
    // The first load creates the table and fails if one of that name appeared since `up` looked
    // (replacing it would drop someone's rules). The key is recorded before: it is what lets
    // `remove` delete the table, so a crash right after the load still leaves it to `down`.
    const fresh = ctx.state.runtime.hostTable === undefined;
    if (fresh) {
      ctx.state.runtime.hostTable = r.key;
      await ctx.saveState();
    }
    try {
      await loadTable(sys, 'inet', names.hostTable, r.text, undefined, { fresh });
    } catch (e) {
      if (fresh) {
        delete ctx.state.runtime.hostTable;
        await ctx.saveState();
        if (await tableExists(sys, 'inet', names.hostTable)) throw new UsageError(`${foreignTable(names).what} already exists and vpnns did not make it; ${foreignTable(names).fix}, or choose another \`namespace\` in the config.`);
      }
      throw e;
    }
    ctx.state.runtime.hostTable = r.key;
    // The supervisor and later commands may run without sudo's environment: the invoker is kept.
    const invoker = invokerUidFromEnv();
    if (invoker !== undefined) ctx.state.runtime.invokerUid = invoker;
    await ctx.saveState();
  },
  async remove({ sys, names, state }) {
    // No key: vpnns never loaded a table of this name (its first load failed, or never ran).
    if (state.runtime.hostTable === undefined) return false;
    const removed = await deleteTable(sys, 'inet', names.hostTable);
    // The key says vpnns loaded the table now there; once it is deleted (a failed `up` undoing its
    // work keeps the state), the next first load must be `create table` again, never a replace.
    delete state.runtime.hostTable;
    return removed;
  },
  async foreign({ sys, names, hostTables }) {
    // A table of this name that vpnns has no record of loading is someone's: replacing it would
    // drop their rules, and `down` would delete it. From the tables `up` listed, when it did.
    const listed = hostTables && (await hostTables);
    if (!(listed ? listed.includes(`inet ${names.hostTable}`) : await tableExists(sys, 'inet', names.hostTable))) return undefined;
    return foreignTable(names);
  },
};
