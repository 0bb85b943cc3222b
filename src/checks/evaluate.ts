// `vpnns check` as pure functions: measured evidence in, a verdict out. The gathering (gather.ts,
// drill.ts) only measures; every judgement — what counts as a leak, what is merely broken — is here
// so that it can be tested without a network.
import type { ClientTraffic } from '../core/client-traffic.js';
import { isIP, normalizeIp } from '../config/net-utils.js';
import { allowCovers, describeAllow, describeHostService, type AllowConfig, type HostServiceConfig } from '../config/exceptions.js';

/** `leak`: traffic or DNS provably left outside the tunnel. `fail`: broken or unprovable. */
export type CheckResult = 'pass' | 'fail' | 'skip' | 'leak';

export interface Check {
  name: string;
  result: CheckResult;
  /** One line, for people. */
  reason: string;
  /** What was measured: addresses seen, resolvers seen, counters. */
  evidence: Record<string, unknown>;
}

/** One echo URL asked once. */
export interface EchoMeasurement {
  url: string;
  ip?: string;
  error?: string;
  /** How it was measured when not plainly (e.g. at an address resolved on the host). */
  note?: string;
}

const uniq = <T>(xs: readonly T[]): T[] => [...new Set(xs)];
const answered = (ms: readonly EchoMeasurement[]): string[] => uniq(ms.flatMap((m) => (m.ip ? [m.ip] : [])));
const check = (name: string, result: CheckResult, reason: string, evidence: Record<string, unknown> = {}): Check => ({ name, result, reason, evidence });


function describe(ms: readonly EchoMeasurement[]): string[] {
  return ms.map((m) => `${m.url}${m.note ? ` ${m.note}` : ''} -> ${m.ip ?? `error: ${m.error ?? 'no answer'}`}`);
}

// ---- namespace and kill switch ----

export interface NamespaceEvidence {
  namespace: string;
  up: boolean;
  killSwitchConfigured: boolean;
  killSwitchLoaded: boolean;
  blocked?: number;
}

export function evaluateNamespace(e: NamespaceEvidence): Check {
  const ev = { namespace: e.namespace, killSwitch: e.killSwitchLoaded ? 'loaded' : 'missing', blocked: e.blocked };
  if (!e.up) return check('namespace', 'fail', `namespace ${e.namespace} does not exist; run \`sudo vpnns up\``, ev);
  if (!e.killSwitchConfigured) return check('namespace', 'fail', `namespace ${e.namespace} is up but the kill switch is off in the config (killSwitch: false): a dead tunnel leaks`, ev);
  if (!e.killSwitchLoaded) return check('namespace', 'fail', `namespace ${e.namespace} is up but its kill switch table (inet vpnns) is not loaded; run \`sudo vpnns up\``, ev);
  return check('namespace', 'pass', `namespace ${e.namespace} is up; kill switch loaded (${e.blocked ?? 0} packets blocked so far)`, ev);
}

// ---- tunnel ----

export interface TunnelEvidence {
  vpnType: string;
  /** The supervisor's state of the vpn component. */
  state?: string;
  connected?: boolean;
  tunnel?: string;
  linkExists: boolean;
  endpoint?: string;
  handshakeAge?: number;
  detail?: string;
  lastError?: string;
}

export function evaluateTunnel(e: TunnelEvidence): Check {
  const ev: Record<string, unknown> = { ...e };
  if (e.vpnType === 'none') return check('tunnel', 'fail', 'no VPN is configured (vpn.type: none): traffic leaves through the host', ev);
  const ok = e.connected === true && e.linkExists && (e.state === undefined || e.state === 'running');
  if (!ok) {
    const why = !e.linkExists ? `tunnel interface ${e.tunnel ?? '?'} is missing` : e.connected !== true ? `the client reports not connected${e.detail ? ` (${e.detail})` : ''}` : `the supervisor says ${e.state}`;
    return check('tunnel', 'fail', `${e.vpnType}: ${why}${e.lastError ? `; last error: ${e.lastError}` : ''}`, ev);
  }
  const hs = e.handshakeAge !== undefined ? `, handshake ${e.handshakeAge}s ago` : '';
  return check('tunnel', 'pass', `${e.vpnType} connected on ${e.tunnel}${e.endpoint ? ` to ${e.endpoint}` : ''}${hs}`, ev);
}

// ---- egress ----

export interface EgressEvidence {
  inside: EchoMeasurement[];
  host: EchoMeasurement[];
  /** The host's own global addresses: an inside egress equal to one of them is a leak even unmeasured. */
  hostAddresses: string[];
}

/** The one address the inside measurements agree on, if they do. */
export function agreedEgress(ms: readonly EchoMeasurement[]): string | undefined {
  const ips = answered(ms);
  return ips.length === 1 ? ips[0] : undefined;
}

export function evaluateEgress(e: EgressEvidence): Check {
  const inside = answered(e.inside);
  const host = answered(e.host);
  const ev = { inside, host, hostAddresses: e.hostAddresses, measurements: { inside: describe(e.inside), host: describe(e.host) } };
  const hostSet = new Set([...host, ...e.hostAddresses]);
  const leaked = inside.filter((ip) => hostSet.has(ip));
  if (leaked.length) return check('egress', 'leak', `traffic from inside leaves as the host: ${leaked.join(', ')} is the host's own egress`, ev);
  if (!inside.length) return check('egress', 'fail', `no echo URL answered from inside (${e.inside.map((m) => m.error).filter(Boolean)[0] ?? 'no URL configured'})`, ev);
  if (inside.length > 1) return check('egress', 'fail', `the echo URLs disagree about the address inside: ${inside.join(' vs ')}`, ev);
  if (!host.length) return check('egress', 'fail', `inside leaves as ${inside[0]}, but the host's egress could not be measured to compare (${e.host.map((m) => m.error).filter(Boolean)[0] ?? 'no answer'})`, ev);
  if (host.length > 1) return check('egress', 'fail', `the echo URLs disagree about the host's address: ${host.join(' vs ')}`, ev);
  const missing = e.inside.filter((m) => !m.ip).length;
  const note = missing ? ` (${missing} of ${e.inside.length} URLs did not answer)` : e.inside.length > 1 ? ` (${e.inside.length} URLs agree)` : '';
  return check('egress', 'pass', `inside leaves as ${inside[0]}, the host as ${host[0]}${note}`, ev);
}

// ---- DNS ----

export interface ResolverProbe {
  server: string;
  /** Interface the route to the server leaves by (inside the namespace). */
  dev?: string;
  /** TXT and A answers of the whoami name: the resolver's identity or its egress address. */
  txt?: string[];
  a?: string[];
  rcode?: string;
  error?: string;
}

export interface DnsEvidence {
  whoami: string;
  /** Tunnel interface; a resolver routed elsewhere (except loopback) is reached outside it. */
  tunnel?: string;
  inside: ResolverProbe[];
  /** `getent ahosts WHOAMI` inside: the path every program takes (nsswitch, resolv.conf). */
  getent: { addresses?: string[]; error?: string };
  host: ResolverProbe[];
  /** Where the host's resolvers came from (check.hostDns, vpn.resolveWith, a resolv.conf). */
  hostSource?: string;
  killSwitchLoaded: boolean;
}

const identity = (p: ResolverProbe): string[] => uniq([...(p.txt ?? []), ...(p.a ?? [])]);
const probeText = (p: ResolverProbe): string => {
  const id = identity(p);
  const where = p.dev ? ` via ${p.dev}` : '';
  if (p.error) return `${p.server}${where}: error: ${p.error}`;
  return `${p.server}${where}: ${id.length ? id.join(', ') : `no whoami answer (${p.rcode ?? '?'})`}`;
};

export function evaluateDns(e: DnsEvidence): Check {
  const hostIds = new Set(e.host.flatMap(identity));
  const hostServers = new Set(e.host.map((p) => p.server));
  const ev = {
    whoami: e.whoami,
    resolversInside: e.inside.map(probeText),
    getent: e.getent.addresses ?? `error: ${e.getent.error ?? 'no answer'}`,
    resolversHost: e.host.map(probeText),
    hostResolversFrom: e.hostSource,
  };
  const reachedInside = e.inside.filter((p) => !p.error);
  for (const p of reachedInside) {
    const same = identity(p).filter((id) => hostIds.has(id));
    if (same.length) return check('dns', 'leak', `resolver ${p.server} answers as the host's resolver (${same.join(', ')}): lookups from inside reach the same resolver as the host's`, ev);
  }
  const viaGetent = (e.getent.addresses ?? []).filter((a) => hostIds.has(a));
  if (viaGetent.length) return check('dns', 'leak', `lookups through the system resolver (getent) reach the host's resolver (${viaGetent.join(', ')})`, ev);
  const outside = (p: ResolverProbe) => p.dev !== undefined && p.dev !== 'lo' && p.dev !== e.tunnel;
  for (const p of reachedInside) {
    if (outside(p)) return check('dns', 'leak', `resolver ${p.server} answered, routed outside the tunnel (via ${p.dev})`, ev);
  }
  // Unanswered is not unsent: with no kill switch the query itself goes out in the clear.
  const unguarded = e.killSwitchLoaded ? [] : e.inside.filter(outside);
  if (unguarded.length) {
    const p = unguarded[0]!;
    return check('dns', 'leak', `queries to ${p.server} leave outside the tunnel (via ${p.dev}) and no kill switch stops them${p.error ? ` (unanswered: ${p.error})` : ''}`, ev);
  }
  // Where whoami cannot tell two resolvers apart, the address is the evidence: the host's own resolver.
  const shared = reachedInside.filter((p) => hostServers.has(p.server) && (!identity(p).length || !hostIds.size));
  if (shared.length) return check('dns', 'leak', `the namespace asks the host's own resolver ${shared.map((p) => p.server).join(', ')}`, ev);
  if (!reachedInside.length) {
    if (e.getent.addresses?.length) return check('dns', 'fail', `lookups answer (getent) but no nameserver of the namespace's resolv.conf does: names are resolved by another path`, ev);
    return check('dns', 'fail', `no resolver answered from inside (${e.inside[0]?.error ?? e.getent.error ?? 'no nameserver in the namespace resolv.conf'})`, ev);
  }
  const insideIds = uniq(reachedInside.flatMap(identity));
  if (insideIds.length && hostIds.size) return check('dns', 'pass', `resolvers seen inside: ${insideIds.join(', ')}; the host's: ${[...hostIds].join(', ')}`, ev);
  const missing = !insideIds.length ? 'inside' : 'on the host';
  const routes = reachedInside.map((p) => `${p.server}${p.dev ? ` via ${p.dev}` : ''}`).join(', ');
  return check('dns', 'pass', `resolvers ${routes} answer through the tunnel and are not the host's; ${e.whoami} gave no identity ${missing}, so only addresses and routes were compared`, ev);
}

// ---- IPv6 ----

export interface Ipv6Evidence {
  inside: EchoMeasurement[];
  host: EchoMeasurement[];
  hostAddresses6: string[];
  /** The tunnel has a global IPv6 address. */
  tunnelCarriesV6: boolean;
  /** Interface of the namespace's IPv6 default route, if any. */
  defaultRouteDev?: string;
  tunnel?: string;
  killSwitchLoaded: boolean;
}

export function evaluateIpv6(e: Ipv6Evidence): Check {
  const inside = answered(e.inside);
  const host = answered(e.host);
  const ev = { inside, host, tunnelCarriesV6: e.tunnelCarriesV6, defaultRoute: e.defaultRouteDev ?? 'none', measurements: { inside: describe(e.inside), host: describe(e.host) } };
  if (inside.length) {
    if (!e.tunnelCarriesV6) return check('ipv6', 'leak', `IPv6 leaves the namespace as ${inside.join(', ')} although the tunnel carries no IPv6`, ev);
    const hostSet = new Set([...host, ...e.hostAddresses6]);
    const leaked = inside.filter((ip) => hostSet.has(ip));
    if (leaked.length) return check('ipv6', 'leak', `IPv6 from inside leaves as the host: ${leaked.join(', ')}`, ev);
    return check('ipv6', 'pass', `IPv6 goes through the tunnel, leaving as ${inside.join(', ')}`, ev);
  }
  const outside = e.defaultRouteDev && e.defaultRouteDev !== e.tunnel;
  if (outside && !e.killSwitchLoaded && !e.tunnelCarriesV6) {
    return check('ipv6', 'fail', `no IPv6 echo answered, but an IPv6 default route leaves outside the tunnel (via ${e.defaultRouteDev}) with no kill switch: a leak cannot be ruled out`, ev);
  }
  // The most telling error: one from a name that resolved, where the connection itself failed.
  const errors = e.inside.map((m) => m.error).filter((x): x is string => !!x);
  const why = errors.find((x) => !/resolv/i.test(x)) ?? errors[0] ?? 'no IPv6 echo URL configured';
  return check('ipv6', 'pass', `no IPv6 egress from inside (${why})`, ev);
}

// ---- proxies, published ports, apps ----

export interface ProxyEvidence {
  name: 'socks' | 'http';
  enabled: boolean;
  /** Why it was not measured (no VPN: no proxies run). */
  notRun?: string;
  proxy: string;
  results: EchoMeasurement[];
  insideEgress?: string;
  hostEgress: string[];
  hostAddresses: string[];
}

export function evaluateProxy(e: ProxyEvidence): Check {
  const name = `proxy-${e.name}`;
  if (!e.enabled) return check(name, 'skip', `the ${e.name} proxy is disabled in the config`, {});
  if (e.notRun) return check(name, 'skip', e.notRun, {});
  const seen = answered(e.results);
  const ev = { proxy: e.proxy, seen, measurements: describe(e.results) };
  const hostSet = new Set([...e.hostEgress, ...e.hostAddresses]);
  const leaked = seen.filter((ip) => hostSet.has(ip));
  if (leaked.length) return check(name, 'leak', `traffic through the ${e.name} proxy ${e.proxy} leaves as the host (${leaked.join(', ')})`, ev);
  if (!seen.length) return check(name, 'fail', `the ${e.name} proxy ${e.proxy} did not answer (${e.results[0]?.error ?? 'no echo URL'})`, ev);
  if (e.insideEgress && seen.some((ip) => ip !== e.insideEgress)) {
    return check(name, 'fail', `the ${e.name} proxy ${e.proxy} leaves as ${seen.join(', ')}, not as the tunnel (${e.insideEgress})`, ev);
  }
  return check(name, 'pass', `the ${e.name} proxy ${e.proxy} answers and leaves as ${seen.join(', ')}`, ev);
}

export interface PublishedPort {
  host: string;
  port: number;
  target: number;
  /** Which entry: "publish" or "apps.NAME.publish". */
  from: string;
  open: boolean;
  error?: string;
}

export function evaluatePublished(ports: PublishedPort[]): Check {
  if (!ports.length) return check('published', 'skip', 'no ports are published', {});
  const ev = { ports: ports.map((p) => `${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.port} -> ${p.target} (${p.from}): ${p.open ? 'open' : `error: ${p.error ?? 'closed'}`}`) };
  const closed = ports.filter((p) => !p.open);
  if (closed.length) return check('published', 'fail', `${closed.length} of ${ports.length} published ports do not answer on the host: ${closed.map((p) => `${p.host}:${p.port}`).join(', ')}`, ev);
  return check('published', 'pass', `${ports.length} published port${ports.length > 1 ? 's answer' : ' answers'} on the host`, ev);
}

export interface AppEvidence {
  name: string;
  autostart: boolean;
  state?: string;
  lastError?: string;
}

export function evaluateApps(apps: AppEvidence[]): Check {
  if (!apps.length) return check('apps', 'skip', 'no apps are configured', {});
  const ev = { apps: apps.map((a) => `${a.name}: ${a.state ?? (a.autostart ? 'not running' : 'not started (autostart off)')}${a.lastError ? ` (${a.lastError})` : ''}`) };
  const down = apps.filter((a) => (a.autostart || a.state !== undefined) && a.state !== 'running');
  if (down.length) return check('apps', 'fail', `not running: ${down.map((a) => `${a.name} (${a.state ?? 'absent'})`).join(', ')}`, ev);
  const up = apps.filter((a) => a.state === 'running');
  if (!up.length) return check('apps', 'skip', 'no app is started automatically', ev);
  return check('apps', 'pass', `running: ${up.map((a) => a.name).join(', ')}`, ev);
}

// ---- exceptions on purpose ----

export interface ExceptionsEvidence {
  allow: AllowConfig[];
  hostServices: HostServiceConfig[];
  /** Supervisor state of each host-service forwarder, by component name. */
  forwarders: Record<string, string | undefined>;
}

/**
 * Not a measurement: the holes the config punched on purpose, named so that a PASS elsewhere is
 * never read as "nothing leaves around the VPN". Fails only when a host service's forwarder is not running.
 */
export function evaluateExceptions(e: ExceptionsEvidence): Check {
  const items = [...e.allow.map((a) => `allow ${describeAllow(a)}`), ...e.hostServices.map((s) => `hostServices ${describeHostService(s)}`)];
  if (!items.length) return check('exceptions', 'skip', 'no exceptions are configured (allow, hostServices)', {});
  const ev = { allow: e.allow.map(describeAllow), hostServices: e.hostServices.map(describeHostService), forwarders: e.forwarders };
  const down = Object.entries(e.forwarders).filter(([, st]) => st !== 'running').map(([n, st]) => `${n} (${st ?? 'absent'})`);
  if (down.length) return check('exceptions', 'fail', `host-service forwarders not running: ${down.join(', ')}`, ev);
  return check('exceptions', 'pass', `${items.length} exception${items.length > 1 ? 's' : ''} on purpose, outside the tunnel or to the host: ${items.join('; ')}`, ev);
}

// ---- kill-switch drill ----

export interface DrillEvidence {
  /** Why the drill did not run; the rest is then empty. */
  skipped?: string;
  clientPid?: number;
  tunnel?: string;
  /** The tunnel link was gone (by itself or deleted) while traffic was generated. */
  tunnelGone?: boolean;
  /** tcpdump lines seen entering the host end of the veth during the outage. */
  captured: string[];
  nsAddr: string;
  hostAddr: string;
  /** The client's own flow, allowed by the kill switch. */
  clientTraffic: ClientTraffic[];
  /** Ports inside whose replies to the host are allowed (proxies, published targets). */
  replyPorts: number[];
  /** The config's exact exceptions: their packets are on purpose, not leaks. */
  allow?: AllowConfig[];
  killSwitchLoaded: boolean;
  counterBefore?: number;
  counterAfter?: number;
  /** Attempts made from inside while the tunnel was down. */
  attempts: string[];
  restored: boolean;
  restoreSeconds?: number;
  egressBefore?: string;
  egressAfter: EchoMeasurement[];
  hostEgress: string[];
  error?: string;
}

interface Packet {
  v6: boolean;
  src: string;
  sport?: number;
  dst: string;
  dport?: number;
  rest: string;
}

/** A `tcpdump -n -t` line: "IP 10.0.0.2.5353 > 198.51.100.53.53: ..." (v6 addresses hold colons, ports follow a dot). */
export function parseCaptureLine(line: string): Packet | undefined {
  const m = /^(IP6?) (\S+) > (\S+?):(?: (.*))?$/.exec(line.trim());
  if (!m) return undefined;
  const v6 = m[1] === 'IP6';
  const split = (s: string): { addr: string; port?: number } => {
    const hp = /^(.*)\.(\d+)$/.exec(s);
    if (hp && isIP(hp[1]!)) return { addr: hp[1]!, port: Number(hp[2]) };
    return { addr: s };
  };
  const s = split(m[2]!);
  const d = split(m[3]!);
  return { v6, src: s.addr, sport: s.port, dst: d.addr, dport: d.port, rest: m[4] ?? '' };
}

/** tcpdump's words for the transport: "UDP, length 5" / "Flags [S]" (TCP). */
function protoOf(rest: string): 'tcp' | 'udp' | undefined {
  if (/^UDP\b|\bUDP,/.test(rest)) return 'udp';
  if (/^Flags \[/.test(rest) || /\btcp\b/.test(rest)) return 'tcp';
  return undefined;
}

/** Lines that are not allowed out of the namespace while the tunnel is down. */
export function leakedPackets(lines: readonly string[], e: Pick<DrillEvidence, 'clientTraffic' | 'hostAddr' | 'replyPorts' | 'allow'>): string[] {
  return lines.filter((line) => {
    const p = parseCaptureLine(line);
    if (!p) return false; // tcpdump's own chatter, not a packet
    // Link-local chatter (neighbour discovery, MLD, IGMP) never leaves the link.
    if (/^fe80:/i.test(p.src) || /^ff02:/i.test(p.dst) || /^224\.0\.0\./.test(p.dst) || p.src === '0.0.0.0') return false;
    for (const c of e.clientTraffic) if (c.kind === 'endpoint' && normalizeIp(c.ip) === normalizeIp(p.dst) && c.port === p.dport) return false;
    if (p.dst === e.hostAddr && p.sport !== undefined && e.replyPorts.includes(p.sport)) return false;
    if (!p.v6 && (e.allow ?? []).some((a) => allowCovers(a, p.dst) && (a.port === undefined || a.port === p.dport) && protoOf(p.rest) === a.proto)) return false;
    return true;
  });
}

export function evaluateDrill(e: DrillEvidence): Check {
  if (e.skipped) return check('drill', 'skip', e.skipped, {});
  const leaked = leakedPackets(e.captured, e);
  const after = answered(e.egressAfter);
  const blocked = e.counterBefore !== undefined && e.counterAfter !== undefined ? e.counterAfter - e.counterBefore : undefined;
  const ev = {
    clientPid: e.clientPid,
    tunnelGone: e.tunnelGone,
    attempts: e.attempts,
    packetsSeen: e.captured.length,
    leakedPackets: leaked.length,
    leaked: leaked.slice(0, 10),
    killSwitchBlocked: blocked,
    restored: e.restored,
    restoreSeconds: e.restoreSeconds,
    egressBefore: e.egressBefore,
    egressAfter: after,
    ...(e.error ? { error: e.error } : {}),
  };
  if (leaked.length) return check('drill', 'leak', `${leaked.length} packet${leaked.length > 1 ? 's' : ''} left the namespace outside the tunnel while the client was down (first: ${leaked[0]})`, ev);
  const hostSet = new Set(e.hostEgress);
  if (after.some((ip) => hostSet.has(ip))) return check('drill', 'leak', `after the drill, traffic leaves as the host (${after.join(', ')})`, ev);
  if (e.error) return check('drill', 'fail', `the drill failed: ${e.error}`, ev);
  if (!e.tunnelGone) return check('drill', 'fail', 'the tunnel did not go down when the client was killed, so nothing was proven', ev);
  if (!e.restored) return check('drill', 'fail', `0 packets leaked, but the tunnel did not come back (${e.restoreSeconds ?? '?'} s waited)`, ev);
  if (e.killSwitchLoaded && !(blocked !== undefined && blocked > 0)) {
    return check('drill', 'fail', 'the traffic generated during the outage was neither seen on the veth nor counted by the kill switch; nothing was proven', ev);
  }
  if (!after.length) return check('drill', 'fail', `0 packets leaked and the tunnel is back, but no echo URL answers from inside afterwards (${e.egressAfter[0]?.error ?? '?'})`, ev);
  if (e.egressBefore && !after.includes(e.egressBefore)) {
    return check('drill', 'fail', `the tunnel is back, but inside now leaves as ${after.join(', ')} instead of ${e.egressBefore}`, ev);
  }
  const counted = blocked !== undefined ? `, ${blocked} blocked by the kill switch` : '';
  return check('drill', 'pass', `client killed: 0 packets left the namespace${counted}; tunnel back in ${e.restoreSeconds ?? '?'} s, leaving as ${after.join(', ')}`, ev);
}

// ---- verdict and rendering ----

/** 0 all pass (skips allowed), 3 any leak, else 1. */
export function exitCodeFor(checks: readonly Check[]): number {
  if (checks.some((c) => c.result === 'leak')) return 3;
  if (checks.some((c) => c.result === 'fail')) return 1;
  return 0;
}

function evidenceLines(ev: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(ev)) {
    if (v === undefined || (Array.isArray(v) && !v.length)) continue;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) if (v2 !== undefined) out.push(`${k}.${k2}: ${Array.isArray(v2) ? v2.join('; ') : String(v2)}`);
    } else out.push(`${k}: ${Array.isArray(v) ? v.join('; ') : String(v)}`);
  }
  return out;
}

export function renderChecks(checks: readonly Check[], opts: { evidence?: boolean } = {}): string {
  const w = Math.max(5, ...checks.map((c) => c.name.length));
  const lines = [`${'CHECK'.padEnd(w)}  RESULT  DETAIL`];
  for (const c of checks) {
    lines.push(`${c.name.padEnd(w)}  ${c.result.toUpperCase().padEnd(6)}  ${c.reason}`);
    if (opts.evidence !== false) for (const l of evidenceLines(c.evidence)) lines.push(`${''.padEnd(w)}          ${l}`);
  }
  const code = exitCodeFor(checks);
  const names = (r: CheckResult) => checks.filter((c) => c.result === r).map((c) => c.name).join(', ');
  lines.push('');
  if (code === 3) lines.push(`LEAK found by: ${names('leak')}${names('fail') ? `; also failed: ${names('fail')}` : ''}`);
  else if (code === 1) lines.push(`FAILED: ${names('fail')}`);
  else lines.push(`all checks passed${names('skip') ? ` (skipped: ${names('skip')})` : ''}`);
  return lines.join('\n');
}
