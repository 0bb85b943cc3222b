// A FORWARD policy of drop in another table (Docker, ufw via iptables-nft) drops our traffic even
// though our own table accepts it: every base chain on a hook must accept. So when such a chain
// exists, vpnns inserts two accept rules tagged with a comment, and removes exactly those on `down`.
import type { Resource } from '../core/resource.js';
import type { System } from '../sys/system.js';
import { q } from './nft.js';

interface NftRule {
  rule?: { family: string; table: string; chain: string; handle: number; comment?: string };
}

const CHAINS = [{ family: 'ip', table: 'filter', chain: 'FORWARD' }] as const;

function tag(ns: string): string {
  return `vpnns:${ns}`;
}

async function chainRules(sys: System, family: string, table: string, chain: string): Promise<NftRule[] | undefined> {
  const r = await sys.query(['nft', '-j', 'list', 'chain', family, table, chain], { allowFail: true });
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as { nftables: NftRule[] }).nftables.filter((x) => x.rule);
}

export function renderForwardAccepts(vethHost: string, ns: string): string[][] {
  const c = `"${tag(ns)}"`;
  return [
    ['iifname', q(vethHost), 'accept', 'comment', c],
    ['oifname', q(vethHost), 'ct', 'state', 'established,related', 'accept', 'comment', c],
  ];
}

export const forwardCompatResource: Resource = {
  id: 'host-forward-compat',
  title: 'accept rules in the host FORWARD chain of other tables',
  // Only rules with the comment vpnns:<ns> are ever removed.
  selfTracked: true,
  async check({ sys, names, hostTables }) {
    // None of these tables when `up` looked, before it made anything: nothing to accept in, no
    // process to ask. (One made since, by Docker starting this moment, is missed as one made right
    // after `up` is; the next `up` adds the rules.)
    const listed = hostTables && (await hostTables);
    if (listed && !CHAINS.some((c) => listed.includes(`${c.family} ${c.table}`))) return true;
    for (const { family, table, chain } of CHAINS) {
      const rules = await chainRules(sys, family, table, chain);
      if (rules && rules.filter((r) => r.rule?.comment === tag(names.ns)).length < 2) return false;
    }
    return true;
  },
  async apply({ sys, names }) {
    for (const { family, table, chain } of CHAINS) {
      const rules = await chainRules(sys, family, table, chain);
      if (!rules) continue;
      await removeTagged(sys, names.ns);
      // Inserted in reverse so they end up in order at the top of the chain.
      for (const rule of renderForwardAccepts(names.vethHost, names.ns).reverse()) {
        await sys.change(['nft', 'insert', 'rule', family, table, chain, ...rule]);
      }
    }
  },
  async remove({ sys, names }) {
    return removeTagged(sys, names.ns);
  },
};

async function removeTagged(sys: System, ns: string): Promise<boolean> {
  let removed = false;
  for (const { family, table, chain } of CHAINS) {
    const rules = (await chainRules(sys, family, table, chain)) ?? [];
    for (const r of rules) {
      if (r.rule?.comment !== tag(ns)) continue;
      await sys.change(['nft', 'delete', 'rule', family, table, chain, 'handle', String(r.rule.handle)], { allowFail: true });
      removed = true;
    }
  }
  return removed;
}
