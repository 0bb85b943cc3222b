// A simulated internet made of network namespaces, for end-to-end tests and
// `vpnns demo`. No node:test imports here on purpose.
//
//   <p>-host  the user's machine; vpnns runs in it via `nsenter --net=...`
//   <p>-wan   the internet: router, ISP resolver, IP-echo service, plug-ins
//   <p>-vsrv  the VPN provider: WireGuard and OpenVPN servers, its resolver, NAT
//   <p>-lan   a LAN neighbour of the host that should reach nothing of vpnns
//
// Everything made is found again by name for teardown (cleanup.ts), so a
// crash never strands namespaces or processes for longer than the next run.
import { existsSync, readFileSync } from 'node:fs';
import { makeDir, makeDirSync, removePathSync, replaceFile, replaceFileSync } from '../sys/files.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCapture, type Capture } from './capture.js';
import { OWNER_DIR, sweepStaleWorlds, teardownSync, writeOwner, type OwnerRecord } from './cleanup.js';
import { Daemon, PidSet } from './daemon.js';
import type { DnsQueryLog } from './dns-server.js';
import type { ParsedResponse } from '../net/dns-wire.js';
import type { HttpRequestLog } from './http-services.js';
import { readJsonLines } from './jsonl.js';
import { OpenvpnServer, renderOvpnClientConf, type OvpnClientConfigOptions } from './openvpn-server.js';
import { hostInNet, resolveOptions, type ResolvedOptions, type WorldAddresses, type WorldOptions } from './options.js';
import { createCa, issueCert, wgKeyPair, writeSecret, type CertFiles } from './pki.js';
import { run, runOk, type RunOptions, type RunResult } from './run.js';
import type { DnsRecordSet, ServiceConfig, ServicesFile } from './service-config.js';
import type { ProbeResult } from './tcp-probe.js';
import { IFACES, namespaceNames, planTopology, vpnResolverAddresses, type NamespacePlan, type Namespaces } from './topology.js';
import { planWgServer, renderWgClientConf, WireguardServer, type WgClientConfigOptions } from './wireguard-server.js';

export { sweepStaleWorlds };
export type { Capture, ProbeResult, WorldOptions, WorldAddresses, WgClientConfigOptions, OvpnClientConfigOptions, DnsQueryLog, HttpRequestLog, ParsedResponse };

const HERE = fileURLToPath(new URL('.', import.meta.url));
const SERVICES_JS = join(HERE, 'services.js');
const DNS_QUERY_JS = join(HERE, 'dns-query.js');
const TCP_PROBE_JS = join(HERE, 'tcp-probe.js');

export interface VpnServerControl<ClientOpts> {
  port: number;
  /** The client profile text a provider would hand out. */
  clientConfig(opts?: ClientOpts): string;
  /** Writes clientConfig() to `path` (default in the run dir), mode 0600; returns the path. */
  writeClientConfig(path?: string, opts?: ClientOpts): Promise<string>;
  stop(): Promise<void>;
  start(): Promise<void>;
  pid(): number | undefined;
  logFile: string;
}

export interface WireguardControl extends VpnServerControl<WgClientConfigOptions> {
  ifname: string;
  serverPublicKey: string;
  /** Provisioned clients: index -> tunnel address. */
  clientAddresses: string[];
  /** `wg show` of the server interface. */
  show(): Promise<string>;
}

export interface OpenvpnControl extends VpnServerControl<OvpnClientConfigOptions> {
  proto: 'udp' | 'tcp';
  ifname: string;
}

export interface World {
  prefix: string;
  /** Run directory: logs, keys, configs. */
  dir: string;
  ns: Namespaces;
  addr: {
    hostPublic: string;
    hostPublic6: string;
    wanGw: string;
    wanGw6: string;
    ispResolver: string;
    /** The provider's resolver as seen through WireGuard (the .1 of the WireGuard net). */
    vpnResolver: string;
    /** The same resolver as seen through OpenVPN. */
    ovpnResolver: string;
    echo: string;
    echo6: string;
    vpnPublic: string;
    vpnPublic6: string;
    /** Source address of OpenVPN clients' traffic on the internet. */
    ovpnPublic: string;
    hostLan: string;
    lanNeighbour: string;
  };
  names: { zone: string; echo: string; vpn: string; whoami: string };
  /** Test CA (PEM) that signed the HTTPS and OpenVPN certificates. */
  caCert: string;
  /** Certificate for wan's HTTPS names (echo + every extraRecords name), for plug-in services. */
  wanCert: CertFiles;
  /** The host's uplink (in ns.host) and the wan interface facing it (in ns.wan). */
  hostIface: string;
  wanIface: string;
  hostLanIface: string;
  wireguard?: WireguardControl;
  openvpn?: OpenvpnControl;
  dnsQueries(resolver: 'isp' | 'vpn'): Promise<DnsQueryLog[]>;
  echoRequests(): Promise<HttpRequestLog[]>;
  /** JSON lines of a plug-in service (by its `name`). */
  serviceRequests(name: string): Promise<HttpRequestLog[]>;
  /** One DNS question from inside `ns` (no dig here; nsenter'd processes would use this machine's resolv.conf). */
  resolveVia(ns: string, server: string, name: string, type?: 'A' | 'AAAA' | 'TXT', proto?: 'udp' | 'tcp'): Promise<ParsedResponse>;
  /** Tries a TCP connection from inside `ns` (there is no ping here): open, refused (reached a host), unreachable or timeout. */
  probeTcp(ns: string, host: string, port: number, timeoutMs?: number): Promise<ProbeResult>;
  capture(ns: string, iface: string, filter?: string): Promise<Capture>;
  /** Runs argv in the host namespace the way vpnns will be run: `nsenter --net=/run/netns/<host>`. */
  inHost(argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** Runs argv with `ip netns exec <ns>` (applies /etc/netns/<ns>/resolv.conf). */
  inNs(ns: string, argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** Registers a namespace not named "<prefix>-*" for removal with the world. */
  adoptNamespace(name: string): void;
  /** Pids the world started and has not seen exit. */
  pids(): number[];
  /** Removes everything; keeps the run dir when KEEP_WORLD=1. */
  destroy(): Promise<void>;
}

interface LiveWorld {
  owner: OwnerRecord;
  pids: PidSet;
}

const LIVE = new Set<LiveWorld>();
let exitHandlersInstalled = false;
const keepDir = (): boolean => process.env.KEEP_WORLD === '1';

/** Sync teardown on exit or a fatal signal, so a crashed test strands nothing. */
function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  const teardownAll = (): void => {
    for (const w of LIVE) teardownSync(w.owner, w.pids.pids, keepDir());
    LIVE.clear();
  };
  process.on('exit', teardownAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      teardownAll();
      process.off(sig, onSignal);
      // Re-raise so the default action (exit) happens, unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

export async function createWorld(options: WorldOptions = {}): Promise<World> {
  const o = resolveOptions(options);
  const dir = `/tmp/vpnns-world-${o.prefix}`;
  if (existsSync(join(OWNER_DIR, `${o.prefix}.owner`))) {
    await sweepStaleWorlds();
    if (existsSync(join(OWNER_DIR, `${o.prefix}.owner`))) throw new Error(`a live world already uses prefix ${o.prefix}`);
  }
  removePathSync(dir);
  makeDirSync(dir, 0o700);
  // Owner first: from here on, even a SIGKILL leaves something sweepable.
  const live: LiveWorld = { owner: writeOwner({ prefix: o.prefix, dir, extraNamespaces: [] }), pids: new PidSet() };
  LIVE.add(live);
  installExitHandlers();
  try {
    return await build(o, dir, live);
  } catch (e) {
    LIVE.delete(live);
    teardownSync(live.owner, live.pids.pids, keepDir());
    throw e;
  }
}

async function build(o: ResolvedOptions, dir: string, live: LiveWorld): Promise<World> {
  const ns = namespaceNames(o.prefix);
  const a = o.addr;
  const names = { zone: o.zone, echo: `echo.${o.zone}`, vpn: `vpn.${o.zone}`, whoami: `whoami.${o.zone}` };
  const vpnResolver = hostInNet(a.wgNet, 1);
  const ovpnResolver = hostInNet(a.ovpnNet, 1);

  const [pki] = await Promise.all([makePki(o, dir, names), makeTopology(o, ns)]);

  const records: Record<string, DnsRecordSet> = {
    [names.echo]: { A: [a.echo], AAAA: [a.echo6] },
    [names.vpn]: { A: [a.vpnPublic] },
    ...o.extraRecords,
  };
  const dnsBase = { kind: 'dns' as const, records, whoami: names.whoami };
  const wanServices: ServiceConfig[] = [
    { ...dnsBase, identity: 'isp', listen: [a.ispResolver], log: join(dir, 'dns-isp.jsonl') },
    {
      kind: 'echo',
      name: 'echo',
      listen: [a.echo, a.echo6].flatMap((host) => [{ host, port: 80 }, { host, port: 443, tls: true }]),
      tls: pki.wan,
      log: join(dir, 'echo.jsonl'),
    },
    ...o.extraServices.map(({ tls, ...s }): ServiceConfig => {
      const name = s.name ?? 'service';
      const wantsTls = tls !== false && s.listen.some((l) => l.tls);
      return { ...s, name, kind: 'http-module', log: join(dir, `${name}.jsonl`), ...(wantsTls ? { tls: pki.wan } : {}) };
    }),
  ];
  const vsrvResolverAddrs = vpnResolverAddresses(o);
  const vsrvServices: ServiceConfig[] = vsrvResolverAddrs.length
    ? [{ ...dnsBase, identity: 'vpn', listen: vsrvResolverAddrs, log: join(dir, 'dns-vpn.jsonl') }]
    : [];

  const pids = live.pids;
  let wg: WireguardServer | undefined;
  if (o.wireguard) {
    wg = new WireguardServer(
      planWgServer({ ns: ns.vsrv, prefix: o.prefix, port: o.wireguard.port, net: a.wgNet, clients: o.wireguard.clients, dir }, wgKeyPair),
      pids,
    );
  }
  let ovpn: OpenvpnServer | undefined;
  if (o.openvpn) {
    ovpn = new OpenvpnServer(
      { ns: ns.vsrv, ifname: `${o.prefix}ovs`, proto: o.openvpn.proto, port: o.openvpn.port, net: a.ovpnNet, ca: pki.ca.cert, server: pki.ovpnServer, client: pki.ovpnClient, dir },
      pids,
    );
  }
  const writeConf = (path: string, text: string): Promise<string> => writeSecret(path, text);

  await Promise.all([
    startServices(ns.wan, 'wan', wanServices, dir, pids),
    vsrvServices.length ? startServices(ns.vsrv, 'vsrv', vsrvServices, dir, pids) : undefined,
    wg?.start(),
    ovpn?.start(writeConf),
  ]);

  let destroyed = false;
  const world: World = {
    prefix: o.prefix,
    dir,
    ns,
    addr: {
      hostPublic: a.hostPublic,
      hostPublic6: a.hostPublic6,
      wanGw: a.wanGw,
      wanGw6: a.wanGw6,
      ispResolver: a.ispResolver,
      vpnResolver,
      ovpnResolver,
      echo: a.echo,
      echo6: a.echo6,
      vpnPublic: a.vpnPublic,
      vpnPublic6: a.vpnPublic6,
      ovpnPublic: a.ovpnPublic,
      hostLan: a.hostLan,
      lanNeighbour: a.lanNeighbour,
    },
    names,
    caCert: pki.ca.cert,
    wanCert: pki.wan,
    hostIface: IFACES.hostUplink,
    wanIface: IFACES.wanToHost,
    hostLanIface: IFACES.hostLan,
    ...(wg ? { wireguard: wireguardControl(wg, dir, { endpointHost: a.vpnPublic, dns: vpnResolver }) } : {}),
    ...(ovpn ? { openvpn: openvpnControl(ovpn, dir, { endpointHost: a.vpnPublic }, writeConf) } : {}),
    dnsQueries: async (resolver) => readJsonLines<DnsQueryLog>(join(dir, `dns-${resolver}.jsonl`)),
    echoRequests: async () => readJsonLines<HttpRequestLog>(join(dir, 'echo.jsonl')),
    serviceRequests: async (name) => readJsonLines<HttpRequestLog>(join(dir, `${name}.jsonl`)),
    async resolveVia(inNs, server, name, type = 'A', proto = 'udp') {
      const r = await run(['ip', 'netns', 'exec', inNs, process.execPath, DNS_QUERY_JS, server, name, type, proto], { timeoutMs: 10000 });
      const parsed = JSON.parse(r.stdout.trim() || '{"error":"no output"}') as ParsedResponse | { error: string };
      if ('error' in parsed) throw new Error(`DNS ${type} ${name} @${server} from ${inNs}: ${parsed.error}${r.stderr ? ` (${r.stderr.trim()})` : ''}`);
      return parsed;
    },
    async probeTcp(inNs, host, port, timeoutMs = 2000) {
      const r = await runOk(['ip', 'netns', 'exec', inNs, process.execPath, TCP_PROBE_JS, host, String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 5000 });
      return (JSON.parse(r.stdout) as { result: ProbeResult }).result;
    },
    capture: (inNs, iface, filter) => startCapture(inNs, iface, filter, pids),
    inHost: (argv, opts) => run(['nsenter', `--net=/run/netns/${ns.host}`, '--', ...argv], opts),
    inNs: (inNs, argv, opts) => run(['ip', 'netns', 'exec', inNs, ...argv], opts),
    adoptNamespace(name) {
      if (!live.owner.extraNamespaces.includes(name)) live.owner.extraNamespaces.push(name);
      replaceFileSync(join(OWNER_DIR, `${o.prefix}.owner`), `${JSON.stringify(live.owner)}\n`, 0o600);
    },
    pids: () => [...pids.pids],
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      // Stop the VPN servers gently so their logs end cleanly; the rest is SIGKILLed by name.
      await Promise.all([wg?.stop(), ovpn?.stop()]);
      LIVE.delete(live);
      teardownSync(live.owner, pids.pids, keepDir());
    },
  };
  return world;
}

function wireguardControl(s: WireguardServer, dir: string, defaults: { endpointHost: string; dns: string }): WireguardControl {
  const clientConfig = (opts?: WgClientConfigOptions): string => renderWgClientConf(s.spec, defaults, opts);
  return {
    port: s.spec.port,
    ifname: s.spec.ifname,
    serverPublicKey: s.spec.keys.publicKey,
    clientAddresses: s.spec.clients.map((c) => c.address),
    clientConfig,
    writeClientConfig: (path, opts) => writeSecret(path ?? join(dir, `wg-client${opts?.client ?? 0}.conf`), clientConfig(opts)),
    stop: () => s.stop(),
    start: () => s.start(),
    pid: () => s.pid(),
    show: () => s.show(),
    logFile: s.logFile,
  };
}

function openvpnControl(s: OpenvpnServer, dir: string, defaults: { endpointHost: string }, writeConf: (p: string, t: string) => Promise<string>): OpenvpnControl {
  const clientConfig = (opts?: OvpnClientConfigOptions): string => renderOvpnClientConf(s.spec, defaults, opts);
  return {
    port: s.spec.port,
    proto: s.spec.proto,
    ifname: s.spec.ifname,
    clientConfig,
    writeClientConfig: (path, opts) => writeSecret(path ?? join(dir, 'openvpn-client.ovpn'), clientConfig(opts)),
    stop: () => s.stop(),
    start: () => s.start(writeConf),
    pid: () => s.pid(),
    logFile: s.logFile,
  };
}

interface Pki {
  ca: CertFiles;
  wan: CertFiles;
  ovpnServer: CertFiles;
  ovpnClient: CertFiles;
}

async function makePki(o: ResolvedOptions, dir: string, names: { echo: string; vpn: string }): Promise<Pki> {
  const pkiDir = join(dir, 'pki');
  await makeDir(pkiDir, 0o700);
  const ca = await createCa(pkiDir, `vpnns test CA ${o.prefix}`);
  const a = o.addr;
  const [wan, ovpnServer, ovpnClient] = await Promise.all([
    issueCert(ca, pkiDir, 'wan', {
      commonName: names.echo,
      altNames: [...new Set([names.echo, ...Object.keys(o.extraRecords), a.echo, a.echo6, ...o.extraWanAddresses])],
      usage: 'server',
    }),
    issueCert(ca, pkiDir, 'ovpn-server', { commonName: names.vpn, altNames: [names.vpn, a.vpnPublic], usage: 'server' }),
    issueCert(ca, pkiDir, 'ovpn-client', { commonName: 'client1', usage: 'client' }),
  ]);
  return { ca, wan, ovpnServer, ovpnClient };
}

async function makeTopology(o: ResolvedOptions, ns: Namespaces): Promise<void> {
  await Promise.all(Object.values(ns).map((n) => runOk(['ip', 'netns', 'add', n])));
  const { first, rest } = planTopology(o);
  await applyPlan(first);
  // In order: host creates the veth whose far end the lan plan configures (in parallel, the lan
  // plan sometimes ran before its eth0 existed).
  for (const p of rest) await applyPlan(p);
  // ip netns exec users (and vpnns's own checks) see the ISP resolver, not this machine's.
  await Promise.all(
    Object.values(ns).map(async (n) => {
      await replaceFile(join('/etc/netns', n, 'resolv.conf'), `nameserver ${o.addr.ispResolver}\n`, 0o644);
    }),
  );
}

async function applyPlan(p: NamespacePlan): Promise<void> {
  await runOk(['ip', '-n', p.ns, '-batch', '-'], { input: `${p.ip.join('\n')}\n` });
  const sysctls = Object.entries(p.sysctl).map(([k, v]) => `${k}=${v}`);
  await Promise.all([
    sysctls.length ? runOk(['ip', 'netns', 'exec', p.ns, 'sysctl', '-q', '-w', ...sysctls]) : undefined,
    p.nft ? runOk(['ip', 'netns', 'exec', p.ns, 'nft', '-f', '-'], { input: p.nft }) : undefined,
  ]);
}

async function startServices(ns: string, label: string, services: ServiceConfig[], dir: string, pids: PidSet): Promise<void> {
  const file: ServicesFile = { services };
  const conf = join(dir, `services-${label}.json`);
  await replaceFile(conf, `${JSON.stringify(file, null, 2)}\n`, 0o600);
  const logFile = join(dir, `services-${label}.log`);
  const d = Daemon.start(ns, [process.execPath, SERVICES_JS, conf], pids, { logFile, pipeStdout: true });
  try {
    await d.waitForStdout('ready', 10000, `services in ${ns}`);
  } catch (e) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
    throw new Error(`${(e as Error).message}${log ? `\n${log}` : ''}`);
  }
}
