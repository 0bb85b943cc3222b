// `vpnns check` from start to end: gather the status, measure everything that can be measured in
// parallel, optionally drill, and judge each piece of evidence.
import { hostServiceSpecs } from '../services/host-services.js';
import type { Config } from '../config/types.js';
import { gatherStatus } from '../report/status.js';
import { namesFor } from '../core/names.js';
import { readState } from '../core/state.js';
import { readStatus } from '../core/status.js';
import { System } from '../sys/system.js';
import { runningConfig } from '../services/added-publications.js';
import {
  evaluateApps, evaluateExceptions, evaluateDns, evaluateDrill, evaluateEgress, evaluateIpv6, evaluateNamespace, evaluateProxy, evaluatePublished, evaluateTunnel,
  agreedEgress, type Check, type ProxyEvidence,
} from './evaluate.js';
import {
  curlProxyUserConfig, defaultRouteDev6, gatherApps, gatherDns, gatherPublished, hostAddresses, measureEcho, tunnelLinkExists, tunnelName, type CheckContext,
} from './gather.js';
import { runDrill } from './drill.js';
import { evaluateBrowserHalf } from './browser-half.js';

export interface CheckOptions {
  drill?: boolean;
  /** The drill is the one part that changes something (it kills the client): only say what it would do. */
  dryRun?: boolean;
}

export async function buildContext(cfg: Config): Promise<CheckContext> {
  const state = await readState(namesFor(cfg));
  // What runs: the applied config plus the ports published at run time.
  const used = state ? await runningConfig(state.config, namesFor(state.config)) : cfg;
  const names = namesFor(used);
  // No egress probe there: the checks measure egress themselves, from every echo URL.
  const [report, status] = await Promise.all([gatherStatus(cfg, { probe: false }), readStatus(names)]);
  return { sys: new System(false), cfg, used, names, state, status, report, timeoutMs: cfg.check.timeout * 1000 };
}

export async function runChecks(ctx: CheckContext, opts: CheckOptions = {}): Promise<Check[]> {
  const { report, used, names } = ctx;
  const checks: Check[] = [];
  checks.push(evaluateNamespace({
    namespace: names.ns,
    up: report.up,
    killSwitchConfigured: used.killSwitch,
    killSwitchLoaded: report.firewall.killSwitch,
    blocked: report.firewall.killSwitchBlocked,
  }));
  if (!report.up) {
    for (const name of ['tunnel', 'egress', 'dns', 'ipv6', 'drill', 'proxy-socks', 'proxy-http', 'published', 'apps', 'exceptions']) {
      if (name === 'drill' && !opts.drill) continue;
      checks.push({ name, result: 'skip', reason: 'the namespace is not up', evidence: {} });
    }
    const half = evaluateBrowserHalf(used.apps);
    if (half) checks.push(half);
    return checks;
  }

  const tunnel = tunnelName(ctx);
  const vpnComponent = ctx.status?.components.vpn;
  const v = report.vpn;
  checks.push(evaluateTunnel({
    vpnType: used.vpn.type,
    state: vpnComponent?.state,
    connected: v?.connected,
    tunnel,
    linkExists: used.vpn.type !== 'none' && (await tunnelLinkExists(ctx, tunnel)),
    endpoint: v?.endpoint,
    handshakeAge: v?.handshakeAge,
    detail: v?.detail,
    lastError: vpnComponent?.state !== 'running' ? vpnComponent?.lastError : undefined,
  }));

  const c = ctx.cfg.check;
  // Dual-stack echo names count too: any IPv6 connection out of a namespace with a v4-only tunnel is a leak.
  const urls6 = [...new Set([...c.echoUrl6, ...c.echoUrl])];
  const [inside4, host4, inside6, host6, addrs, dns, route6, published] = await Promise.all([
    measureEcho(ctx, c.echoUrl, { inside: true, family: 4 }),
    measureEcho(ctx, c.echoUrl, { family: 4 }),
    measureEcho(ctx, urls6, { inside: true, family: 6 }),
    measureEcho(ctx, urls6, { family: 6 }),
    hostAddresses(ctx.sys),
    gatherDns(ctx),
    defaultRouteDev6(ctx),
    gatherPublished(ctx),
  ]);
  const hostEgress = [...new Set(host4.flatMap((m) => (m.ip ? [m.ip] : [])))];
  const hostEgress6 = [...new Set(host6.flatMap((m) => (m.ip ? [m.ip] : [])))];
  checks.push(evaluateEgress({ inside: inside4, host: host4, hostAddresses: addrs.v4 }));
  checks.push(evaluateDns(dns));
  checks.push(evaluateIpv6({
    inside: inside6,
    host: host6,
    hostAddresses6: addrs.v6,
    tunnelCarriesV6: (report.addresses[tunnel] ?? []).some((a) => a.includes(':') && !/^fe80:/i.test(a)),
    defaultRouteDev: route6,
    tunnel,
    killSwitchLoaded: report.firewall.killSwitch,
  }));

  if (opts.drill && opts.dryRun) {
    checks.push({ name: 'drill', result: 'skip', reason: '--dry-run: the drill would freeze the supervisor, kill the VPN client, capture the veth and restore the tunnel', evidence: {} });
  } else if (opts.drill) checks.push(evaluateDrill(await runDrill(ctx, inside4, [...hostEgress, ...addrs.v4])));

  // After the drill, so the proxies are judged on the restored tunnel (they follow it down and up).
  const insideEgress = agreedEgress(inside4);
  const proxyBase = { insideEgress, hostEgress, hostAddresses: [...addrs.v4, ...addrs.v6, ...hostEgress6] };
  const notRun = used.vpn.type === 'none' ? 'no VPN: vpnns runs no proxies' : undefined;
  const socks = used.proxies.socks;
  const http = used.proxies.http;
  const socksAt = `${names.nsAddr}:${socks.port}`;
  const httpAt = `${names.nsAddr}:${http.port}`;
  const measureProxy = async (on: boolean, extra: string[], config?: string) =>
    on && !notRun ? measureEcho(ctx, c.echoUrl, { extra, config }) : [];
  const [socksResults, httpResults] = await Promise.all([
    measureProxy(socks.enabled, ['--socks5-hostname', socksAt], socks.username !== undefined && socks.password !== undefined ? curlProxyUserConfig(socks.username, socks.password) : undefined),
    measureProxy(http.enabled, ['-x', `http://${httpAt}`]),
  ]);
  const proxy = (name: ProxyEvidence['name'], enabled: boolean, at: string, results: typeof socksResults): ProxyEvidence => ({ name, enabled, notRun, proxy: at, results, ...proxyBase });
  checks.push(evaluateProxy(proxy('socks', socks.enabled, socksAt, socksResults)));
  checks.push(evaluateProxy(proxy('http', http.enabled, httpAt, httpResults)));
  checks.push(evaluatePublished(published));
  const latest = await readStatus(names);
  checks.push(evaluateApps(gatherApps({ ...ctx, status: latest })));
  checks.push(evaluateExceptions({
    allow: used.allow ?? [],
    hostServices: used.hostServices ?? [],
    forwarders: Object.fromEntries(hostServiceSpecs(used, names).map((s) => [s.name, latest?.components[s.name]?.state])),
  }));
  // Last: what the checks above do not cover, so nobody believes more than was measured.
  const half = evaluateBrowserHalf(used.apps);
  if (half) checks.push(half);
  return checks;
}
