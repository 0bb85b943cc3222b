// The route half of the exact exceptions (`allow`): policy rules inside the namespace that send
// exactly those flows (destination, protocol, port) to a table whose only route is the veth. A
// plain route to the destination would also send its other ports, and DNS to a resolver in an
// allowed network, to the veth, where the kill switch refuses them: the rules keep everything
// that is not an exception in the tunnel, the kill switch keeps everything that is not an
// exception off the veth. The host side needs nothing new: it already forwards and masquerades
// whatever the namespace sends from its own address (firewall/host-table.ts).
import type { Resource, Context } from '../core/resource.js';
import type { Names } from '../core/names.js';
import { UsageError } from '../errors.js';
import { allowConflict, checkAllowTo, normalTo, type AllowConfig } from '../config/exceptions.js';
import type { ClientTraffic } from '../core/client-traffic.js';

/** Rule priority and routing table of the exceptions: before `main` (32766), after `local` (0). */
export const ALLOW_TABLE = 5180;

/** `ip rule` selector words of one exception, as `ip -j rule show` gives them back (for check). */
export function allowSelector(a: AllowConfig): string[] {
  const bad = checkAllowTo(a.to);
  if (bad) throw new Error(`refusing allow entry ${JSON.stringify(a.to)} in a routing rule: ${bad}`);
  if (a.proto !== 'tcp' && a.proto !== 'udp') throw new Error(`refusing protocol ${JSON.stringify(a.proto)} in a routing rule`);
  if (a.port !== undefined && (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535)) throw new Error(`refusing port ${a.port} in a routing rule`);
  return ['to', normalTo(a.to), 'ipproto', a.proto, ...(a.port === undefined ? [] : ['dport', String(a.port)])];
}

/** Every command that puts the exceptions in place, in order (pure): table route first, then one rule each. */
export function renderAllowRoutes(list: AllowConfig[], n: Pick<Names, 'ns' | 'hostAddr' | 'vethNs'>): string[][] {
  if (!list.length) return [];
  const t = String(ALLOW_TABLE);
  return [
    ['ip', '-n', n.ns, 'route', 'replace', 'default', 'via', n.hostAddr, 'dev', n.vethNs, 'table', t],
    ...list.map((a) => ['ip', '-n', n.ns, 'rule', 'add', 'priority', t, ...allowSelector(a), 'table', t]),
  ];
}

interface RuleJson { priority?: number; dst?: string; dstlen?: number; ipproto?: string; dport?: number; table?: string }

/** A listed rule in the spelling allowSelector uses, so the two can be compared. */
function listedKey(r: RuleJson): string {
  return ['to', `${r.dst}/${r.dstlen ?? 32}`, 'ipproto', r.ipproto ?? '?', ...(r.dport === undefined ? [] : ['dport', String(r.dport)])].join(' ');
}

async function listedRules(ctx: Pick<Context, 'sys' | 'names'>): Promise<string[] | undefined> {
  const r = await ctx.sys.query(['ip', '-j', '-n', ctx.names.ns, 'rule', 'show', 'priority', String(ALLOW_TABLE)], { allowFail: true });
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout || '[]') as RuleJson[]).map(listedKey).sort();
}

/** The VPN servers' addresses as the provider resolved them: an exception covering one is refused. */
function resolvedEndpoints(ctx: Pick<Context, 'state'>): string[] {
  const client = (ctx.state.runtime.clientTraffic as ClientTraffic[] | undefined) ?? [];
  return client.flatMap((c) => (c.kind === 'endpoint' ? [c.ip] : []));
}

export const allowRoutesResource: Resource = {
  id: 'allow-routes',
  title: 'routes of the exact exceptions (allow)',
  async check(ctx) {
    const want = (ctx.cfg.allow ?? []).map((a) => allowSelector(a).join(' ')).sort();
    // A namespace made by this run has no rules yet: in place exactly when none are wanted.
    if (ctx.freshNamespace) return want.length === 0;
    const have = await listedRules(ctx);
    if (have === undefined) return want.length === 0;
    if (JSON.stringify(want) !== JSON.stringify(have)) return false;
    if (!want.length) return true;
    const route = await ctx.sys.query(['ip', '-j', '-n', ctx.names.ns, 'route', 'show', 'table', String(ALLOW_TABLE)], { allowFail: true });
    return route.code === 0 && route.stdout.includes(`"gateway":"${ctx.names.hostAddr}"`);
  },
  async apply(ctx) {
    const list = ctx.cfg.allow ?? [];
    // Names in the VPN file are resolved only now: the config could not check them.
    const c = allowConflict(list, ctx.names.subnet, resolvedEndpoints(ctx));
    if (c) throw new UsageError(`allow[${c.index}]: ${c.detail}.`);
    await ctx.sys.change(['ip', '-n', ctx.names.ns, 'rule', 'flush', 'priority', String(ALLOW_TABLE)], { allowFail: true });
    await ctx.sys.change(['ip', '-n', ctx.names.ns, 'route', 'flush', 'table', String(ALLOW_TABLE)], { allowFail: true });
    for (const argv of renderAllowRoutes(list, ctx.names)) await ctx.sys.change(argv);
  },
  async remove(ctx) {
    const have = await listedRules(ctx);
    if (!have?.length) return false;
    await ctx.sys.change(['ip', '-n', ctx.names.ns, 'rule', 'flush', 'priority', String(ALLOW_TABLE)], { allowFail: true });
    await ctx.sys.change(['ip', '-n', ctx.names.ns, 'route', 'flush', 'table', String(ALLOW_TABLE)], { allowFail: true });
    return true;
  },
};
