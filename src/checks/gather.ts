// The measuring half of `vpnns check`: curl and DNS questions from inside the namespace (ip netns
// exec, so its resolv.conf applies) and from the host, and the kernel's view of routes and
// addresses. Nothing here judges; evaluate.ts does.
import { readdir, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/types.js';
import { isIP, isIPv4, isIPv6, normalizeIp, parseEcho, parseHostPort } from '../config/net-utils.js';
import { tcpConnect } from '../net/ports.js';
import { ETC_NETNS, type Names } from '../core/names.js';
import type { State } from '../core/state.js';
import type { SupervisorStatus } from '../core/status.js';
import type { StatusReport } from '../report/status.js';
import { System, readText } from '../sys/system.js';
import { listAddrs, linkExists } from '../net/ip.js';
import { expandWhoami, queryAll, type DnsProbeResult, type DnsQuestion } from './dns-probe.js';
import { type AppEvidence, type DnsEvidence, type EchoMeasurement, type PublishedPort, type ResolverProbe } from './evaluate.js';

export interface CheckContext {
  sys: System;
  /** The config file as it is now: the `check:` settings come from here. */
  cfg: Config;
  /** The config the namespace was brought up with (state.json), else `cfg`. */
  used: Config;
  names: Names;
  state?: State;
  status?: SupervisorStatus;
  report: StatusReport;
  /** Per measurement. */
  timeoutMs: number;
}

const DNS_PROBE_JS = fileURLToPath(new URL('./dns-probe.js', import.meta.url));

export function inside(ctx: Pick<CheckContext, 'names'>, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', ctx.names.ns, ...argv];
}

/** The live tunnel name: the provider's, else the supervisor's, else ours. */
export function tunnelName(ctx: Pick<CheckContext, 'report' | 'status' | 'names'>): string {
  return ctx.report.vpn?.tunnel ?? (ctx.status?.components.vpn?.detail?.tunnel as string | undefined) ?? ctx.names.tunnel;
}

// ---- curl against echo URLs ----

export interface CurlOptions {
  family?: 4 | 6;
  /** Extra curl options (proxy). */
  extra?: string[];
  /** curl config on stdin (`-K -`), for secrets that must not be in argv. */
  config?: string;
  /** Run inside the namespace rather than on the host. */
  inside?: boolean;
}

export async function curlEcho(ctx: CheckContext, url: string, o: CurlOptions = {}): Promise<EchoMeasurement> {
  let pin = !o.inside && !o.extra ? await hostResolveArgs(ctx, url, o.family ?? 4, true) : [];
  let m = await curlOnce(ctx, url, o, pin);
  if (o.inside && (m.code === 6 || /^Resolving timed out/.test(m.error ?? ''))) {
    // The name does not resolve inside (a dead tunnel takes its resolver along). Where IP traffic
    // goes is a separate question from DNS: ask again at the address the host resolves.
    pin = await hostResolveArgs(ctx, url, o.family ?? 4, false);
    if (pin.length) {
      const again = await curlOnce(ctx, url, o, pin);
      m = { ...again, url, note: `at ${pin[1]!.split(':').slice(2).join(':')} (the name did not resolve inside; address from the host's resolver)` };
    }
  }
  const { code: _code, ...rest } = m;
  return rest;
}

async function curlOnce(ctx: CheckContext, url: string, o: CurlOptions, pin: string[]): Promise<EchoMeasurement & { code: number }> {
  const secs = String(Math.max(1, Math.round(ctx.timeoutMs / 1000)));
  const argv = [
    'curl', '-sS', '--fail', '--max-time', secs, '--max-filesize', '65536',
    ...(o.family ? [`-${o.family}`] : []),
    // A proxy in root's environment would answer for the wrong path.
    ...(o.extra ?? ['--noproxy', '*']),
    ...(o.config !== undefined ? ['-K', '-'] : []),
    ...pin,
    url,
  ];
  const r = await ctx.sys.query(o.inside ? inside(ctx, argv) : argv, { allowFail: true, timeoutMs: ctx.timeoutMs + 3000, input: o.config });
  if (r.code !== 0) {
    const last = r.stderr.trim().split('\n').at(-1) ?? '';
    return { url, code: r.code, error: last.replace(/^curl: (\(\d+\) )?/, '') || `curl exit ${r.code}` };
  }
  return { url, code: 0, ...parseEcho(r.stdout) };
}

export function measureEcho(ctx: CheckContext, urls: readonly string[], o: CurlOptions = {}): Promise<EchoMeasurement[]> {
  return Promise.all(urls.map((u) => curlEcho(ctx, u, o)));
}

// ---- the host's resolvers ----

/**
 * The host's resolvers: check.hostDns, else vpn.resolveWith (what the host resolves the VPN server
 * with), else the resolv.conf that applies to the network namespace vpnns runs in — /etc/netns/X/
 * when that namespace is a named one (as `ip netns exec X` would apply), else /etc/resolv.conf.
 * `explicit`: not what libc in this process would use by itself.
 */
export async function hostResolvers(ctx: Pick<CheckContext, 'cfg' | 'used'>): Promise<{ servers: string[]; explicit: boolean; source: string }> {
  if (ctx.cfg.check.hostDns?.length) return { servers: ctx.cfg.check.hostDns, explicit: true, source: 'check.hostDns' };
  const rw = 'resolveWith' in ctx.used.vpn ? ctx.used.vpn.resolveWith : undefined;
  if (rw?.length) return { servers: rw, explicit: true, source: 'vpn.resolveWith' };
  const own = await ownNetnsName();
  const named = own ? await readText(`${ETC_NETNS}/${own}/resolv.conf`) : undefined;
  if (named !== undefined) return { servers: nameservers(named), explicit: true, source: `${ETC_NETNS}/${own}/resolv.conf` };
  return { servers: nameservers((await readText('/etc/resolv.conf')) ?? ''), explicit: false, source: '/etc/resolv.conf' };
}

/** The name of the network namespace this process runs in, when it is a named one (`ip netns identify`). */
async function ownNetnsName(): Promise<string | undefined> {
  try {
    const self = await stat('/proc/self/ns/net');
    for (const name of await readdir('/run/netns')) {
      const s = await stat(`/run/netns/${name}`).catch(() => undefined);
      if (s && s.ino === self.ino && s.dev === self.dev) return name;
    }
  } catch {
    /* no named namespaces at all */
  }
  return undefined;
}

export function nameservers(resolvConf: string): string[] {
  return resolvConf
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((s): s is string => !!s && isIP(s.replace(/%.*$/, '')));
}

/**
 * `--resolve` arguments that make curl use the address the host's resolvers give for the URL's
 * name. On the host only when those resolvers are not libc's own (`onlyExplicit`), so the
 * configured resolver is the one measured.
 */
async function hostResolveArgs(ctx: CheckContext, url: string, family: 4 | 6, onlyExplicit: boolean): Promise<string[]> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return [];
  const { servers, explicit } = await hostResolvers(ctx);
  if (onlyExplicit && !explicit) return [];
  const type = family === 6 ? 'AAAA' : 'A';
  for (const server of servers) {
    const [r] = await queryAll([{ server, name: host, type }], Math.min(ctx.timeoutMs, 3000));
    const addr = r?.records?.[0];
    if (addr) {
      const port = u.port || (u.protocol === 'https:' ? '443' : '80');
      return ['--resolve', `${host}:${port}:${family === 6 ? `[${addr}]` : addr}`];
    }
  }
  return [];
}

// ---- addresses and routes ----

export async function hostAddresses(sys: System): Promise<{ v4: string[]; v6: string[] }> {
  const all = (await listAddrs(sys)).flatMap((l) => (l.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => normalizeIp(a.local)));
  return { v4: all.filter(isIPv4), v6: all.filter(isIPv6) };
}

/** The interface the namespace would send to `addr` by (undefined: no route). */
export async function routeDev(ctx: Pick<CheckContext, 'sys' | 'names'>, addr: string): Promise<string | undefined> {
  const r = await ctx.sys.query(['ip', '-n', ctx.names.ns, '-json', 'route', 'get', addr], { allowFail: true });
  if (r.code !== 0) return undefined;
  try {
    return (JSON.parse(r.stdout) as Array<{ dev?: string }>)[0]?.dev;
  } catch {
    return undefined;
  }
}

export async function defaultRouteDev6(ctx: Pick<CheckContext, 'sys' | 'names'>): Promise<string | undefined> {
  const r = await ctx.sys.query(['ip', '-6', '-n', ctx.names.ns, '-json', 'route', 'show', 'default'], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return undefined;
  try {
    return (JSON.parse(r.stdout) as Array<{ dev?: string }>)[0]?.dev;
  } catch {
    return undefined;
  }
}

export async function tunnelLinkExists(ctx: Pick<CheckContext, 'sys' | 'names'>, tunnel: string): Promise<boolean> {
  return !tunnel.includes('*') && (await linkExists(ctx.sys, tunnel, ctx.names.ns));
}

/** The kill switch's `blocked` counter, or undefined when the table is not loaded. */
export async function blockedCounter(ctx: Pick<CheckContext, 'sys' | 'names'>): Promise<number | undefined> {
  const r = await ctx.sys.query(inside(ctx, ['nft', '-j', 'list', 'counter', 'inet', ctx.names.nsTable, 'blocked']), { allowFail: true });
  if (r.code !== 0) return undefined;
  const c = (JSON.parse(r.stdout) as { nftables: Array<{ counter?: { packets: number } }> }).nftables.find((x) => x.counter);
  return c?.counter?.packets;
}

// ---- DNS ----

/** Questions asked from inside, in one process started there. */
export async function dnsInside(ctx: CheckContext, questions: DnsQuestion[]): Promise<DnsProbeResult[]> {
  if (!questions.length) return [];
  const t = Math.min(ctx.timeoutMs, 3000);
  const r = await ctx.sys.query(inside(ctx, [process.execPath, DNS_PROBE_JS, JSON.stringify(questions), String(t)]), { allowFail: true, timeoutMs: t + 5000 });
  try {
    return JSON.parse(r.stdout) as DnsProbeResult[];
  } catch {
    const why = r.stderr.trim().split('\n').at(-1) || `exit ${r.code}`;
    return questions.map((q) => ({ ...q, error: `probe failed: ${why}` }));
  }
}

export async function getentInside(ctx: CheckContext, name: string): Promise<{ addresses?: string[]; error?: string }> {
  const r = await ctx.sys.query(inside(ctx, ['getent', 'ahosts', name]), { allowFail: true, timeoutMs: ctx.timeoutMs + 3000 });
  if (r.code !== 0) return { error: r.code === 2 ? `${name} not found` : `getent exit ${r.code}` };
  const addrs = [...new Set(r.stdout.split('\n').map((l) => l.split(/\s+/)[0] ?? '').filter((a) => isIP(a)).map(normalizeIp))];
  return { addresses: addrs };
}

/** The resolv.conf programs inside really read (ip netns exec bind-mounts /etc/netns/NS over /etc). */
export async function nsNameservers(ctx: CheckContext): Promise<string[]> {
  const r = await ctx.sys.query(inside(ctx, ['cat', '/etc/resolv.conf']), { allowFail: true });
  return nameservers(r.stdout);
}

function toProbe(server: string, results: DnsProbeResult[], dev?: string): ResolverProbe {
  const mine = results.filter((r) => r.server === server);
  const ok = mine.filter((r) => r.rcode !== undefined);
  const p: ResolverProbe = { server, ...(dev ? { dev } : {}) };
  if (!ok.length) return { ...p, error: mine.find((r) => r.error)?.error ?? 'no answer' };
  p.rcode = ok.map((r) => r.rcode).find((c) => c !== 'NOERROR') ?? 'NOERROR';
  p.txt = ok.filter((r) => r.type === 'TXT').flatMap((r) => r.records ?? []);
  p.a = ok.filter((r) => r.type === 'A').flatMap((r) => r.records ?? []).map(normalizeIp);
  return p;
}

const whoamiQuestions = (servers: string[], whoami: string): DnsQuestion[] =>
  servers.flatMap((server) => (['TXT', 'A'] as const).map((type) => ({ server, name: expandWhoami(whoami), type })));

export async function gatherDns(ctx: CheckContext): Promise<DnsEvidence> {
  const whoami = ctx.cfg.check.dnsWhoami;
  const tunnel = tunnelName(ctx);
  const servers = await nsNameservers(ctx);
  const { servers: hostServers, source: hostSource } = await hostResolvers(ctx);
  const [insideResults, devs, getent, hostResults] = await Promise.all([
    dnsInside(ctx, whoamiQuestions(servers, whoami)),
    Promise.all(servers.map((s) => routeDev(ctx, s))),
    getentInside(ctx, expandWhoami(whoami)),
    queryAll(whoamiQuestions(hostServers, whoami), Math.min(ctx.timeoutMs, 3000)),
  ]);
  return {
    whoami,
    tunnel: ctx.used.vpn.type === 'none' ? undefined : tunnel,
    inside: servers.map((s, i) => toProbe(s, insideResults, devs[i])),
    getent,
    host: hostServers.map((s) => toProbe(s, hostResults)),
    hostSource,
    killSwitchLoaded: ctx.report.firewall.killSwitch,
  };
}

// ---- published ports and apps ----


interface PublishEntry { host?: string; port?: number; target?: number }

export async function gatherPublished(ctx: CheckContext): Promise<PublishedPort[]> {
  const entries: Array<{ e: PublishEntry; from: string }> = [
    ...ctx.used.publish.map((e) => ({ e, from: 'publish' })),
    ...Object.entries(ctx.used.apps).flatMap(([name, app]) => app.publish.map((e) => ({ e, from: `apps.${name}.publish` }))),
  ];
  return Promise.all(
    entries.map(async ({ e, from }) => {
      const parsed = parseHostPort(e.host ?? `127.0.0.1:${e.port ?? e.target}`);
      const hp = parsed.ok ? parsed : { host: '127.0.0.1', port: e.port ?? e.target ?? 0 };
      const r = await tcpConnect(hp.host, hp.port, Math.min(ctx.timeoutMs, 3000));
      return { host: hp.host, port: hp.port, target: e.target ?? e.port ?? hp.port, from, ...r };
    }),
  );
}

export function gatherApps(ctx: CheckContext): AppEvidence[] {
  return Object.entries(ctx.used.apps).map(([name, app]) => {
    const c = ctx.status?.components[`app-${name}`];
    return { name, autostart: app.autostart, ...(c ? { state: c.state, lastError: c.lastError } : {}) };
  });
}

/** Ports inside whose replies to the host the kill switch lets out (for the drill's capture). */
export function replyPorts(used: Config): number[] {
  const ports = [
    ...(used.proxies.socks.enabled ? [used.proxies.socks.port] : []),
    ...(used.proxies.http.enabled ? [used.proxies.http.port] : []),
    ...used.publish.map((p) => p.target ?? p.port ?? 0),
    ...Object.values(used.apps).flatMap((a) => a.publish.map((p) => p.target ?? p.port ?? 0)),
  ];
  return [...new Set(ports.filter((p) => p > 0))];
}

/** curl config text for a proxy user: quoted, so a password never reaches argv. */
export function curlProxyUserConfig(user: string, password: string): string {
  const esc = (s: string) => s.replaceAll('\\', '\\\\').replaceAll('"', '\\"');
  return `proxy-user = "${esc(user)}:${esc(password)}"\n`;
}
