// /run/vpnns/<ns>/summary.json: what `vpnns list` shows of a namespace that the supervisor's
// status.json does not hold (the VPN provider, the apps, the published ports), written by `up`
// from the config it used. World-readable like status.json, so `vpnns list` works without root;
// it holds nothing secret and nothing of the host's own address (the config's names, ports and the
// namespace end of the link). Written by the plan, not the supervisor: it is a fact of `up`.
import type { Config } from '../config/types.js';
import type { Names } from '../core/names.js';
import type { Resource } from '../core/resource.js';
import { readText } from '../sys/system.js';
import { publications } from '../services/publish.js';
import { formatHostPort } from '../config/net-utils.js';

export interface Summary {
  version: 1;
  namespace: string;
  vpn: { type: string };
  /** App names, in config order. */
  apps: string[];
  /** The config's publications (ports added at run time are in published.json). */
  published: Array<{ listen: string; target: string; via: string; origin: string }>;
  /** The namespace end of the link: the target of ports added at run time. */
  nsAddr: string;
}

export function summaryPath(n: Pick<Names, 'stateDir'>): string {
  return `${n.stateDir}/summary.json`;
}

export function renderSummary(cfg: Config, names: Names): string {
  const s: Summary = {
    version: 1,
    namespace: names.ns,
    vpn: { type: cfg.vpn.type },
    apps: Object.keys(cfg.apps),
    published: publications(cfg, names).map((p) => ({ listen: formatHostPort(p.listen), target: formatHostPort(p.target), via: p.via, origin: p.origin })),
    nsAddr: names.nsAddr,
  };
  return JSON.stringify(s, null, 2) + '\n';
}

export const summaryResource: Resource = {
  id: 'summary',
  title: 'summary for `vpnns list`',
  async check({ cfg, names }) {
    return (await readText(summaryPath(names))) === renderSummary(cfg, names);
  },
  async apply({ sys, cfg, names }) {
    await sys.writeFile(summaryPath(names), renderSummary(cfg, names), { mode: 0o644 });
  },
  async remove({ sys, names }) {
    // Goes with the state directory too; removed here so a `down` that keeps the directory (a
    // failure half-way) leaves no summary of a namespace that is gone.
    if ((await readText(summaryPath(names))) === undefined) return false;
    await sys.remove(summaryPath(names));
    return true;
  },
};
