// Everything `status` shows, gathered once, as data: the table and --json are two views of it.
import type { Config } from '../config/types.js';
import { namesFor, type Names } from '../core/names.js';
import { readState } from '../core/state.js';
import { System, readText } from '../sys/system.js';
import { listAddrs, listRoutes, netnsExists } from '../net/ip.js';
import { tableExists } from '../firewall/nft.js';
import { readStatus, type ComponentStatus, type SupervisorStatus } from '../core/status.js';
import { request } from '../supervisor/control-client.js';
import { providerFor } from '../vpn/registry.js';
import { vpnContext } from '../vpn/prepare-resource.js';
import type { PreparedVpn, VpnStatus } from '../vpn/provider.js';
import { isAlive } from '../sys/process.js';
import { isOurSupervisor, supervisorPid, supervisorStart } from '../supervisor/resource.js';
import { publications } from '../services/publish.js';
import { runningConfig } from '../services/added-publications.js';
import { formatHostPort } from '../config/net-utils.js';
import { probeInside } from '../supervisor/probe.js';
import { describeAllow, describeHostService, hostServiceTarget } from '../config/exceptions.js';

export interface StatusReport {
  namespace: string;
  up: boolean;
  names: Pick<Names, 'vethHost' | 'vethNs' | 'hostAddr' | 'nsAddr' | 'subnet'>;
  addresses: Record<string, string[]>;
  routes: string[];
  dns: string[];
  firewall: { hostTable: boolean; killSwitch: boolean; killSwitchBlocked?: number };
  vpn?: { type: string } & Partial<VpnStatus> & { implementation?: unknown; egressIp?: string; egressMeasuredAt?: string; egressError?: string };
  supervisor?: { pid: number; alive: boolean; /** Why it ended, when it crashed. */ fatal?: string; /** False when it is alive but did not answer on its control socket (the rest is from status.json). */ answering?: boolean };
  components: Record<string, ComponentStatus>;
  /** Every published port: `forwarder` ones also appear as components, `kernel` ones only here. */
  published: Array<{ listen: string; target: string; via: string; origin: string }>;
  /** The exact exceptions to the tunnel (`allow`): each leaves over the veth. */
  exceptions: Array<{ to: string; port?: number; proto: string; text: string }>;
  /** Host loopback services reachable inside (`hostServices`). */
  hostServices: Array<{ port: number; target: number; text: string }>;
  processes: Array<{ pid: number; command: string }>;
  /** Set when not run as root: firewall, addresses, routes and the client's own status cannot be read. */
  limited?: string;
}

export async function gatherStatus(cfg: Config, opts: { probe?: boolean } = {}): Promise<StatusReport> {
  const sys = new System(false);
  const state = await readState(namesFor(cfg));
  const used = state?.config ?? cfg;
  const n = namesFor(used);
  const up = await netnsExists(sys, n.ns);
  const report: StatusReport = {
    namespace: n.ns,
    up,
    names: { vethHost: n.vethHost, vethNs: n.vethNs, hostAddr: n.hostAddr, nsAddr: n.nsAddr, subnet: n.subnet },
    addresses: {},
    routes: [],
    dns: [],
    firewall: { hostTable: await tableExists(sys, 'inet', n.hostTable), killSwitch: false },
    components: {},
    published: publications(await runningConfig(used, n), n).map((p) => ({ listen: formatHostPort(p.listen), target: formatHostPort(p.target), via: p.via, origin: p.origin })),
    exceptions: (used.allow ?? []).map((a) => ({ to: a.to, ...(a.port !== undefined && { port: a.port }), proto: a.proto, text: describeAllow(a) })),
    hostServices: (used.hostServices ?? []).map((s) => ({ port: s.port, target: hostServiceTarget(s), text: describeHostService(s) })),
    processes: [],
  };
  if (!up) return report;
  // Root asks the live supervisor on its control socket; everyone else reads status.json.
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const ours = Boolean(root && state && (await isOurSupervisor(supervisorPid(state), n.ns, supervisorStart(state))));
  const asked = ours ? await request<SupervisorStatus>(n, { op: 'status' }, 2000).catch(() => undefined) : undefined;
  const st = asked ?? (await readStatus(n));
  report.components = st?.components ?? {};
  const fatal = st?.fatal;
  report.dns = ((await readText(`${n.etcDir}/resolv.conf`)) ?? '')
    .split('\n')
    .filter((l) => l.startsWith('nameserver '))
    .map((l) => l.slice(11).trim());
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return limitedReport(report, used);
  for (const l of await listAddrs(sys, n.ns)) {
    report.addresses[l.ifname] = (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
  }
  report.routes = (await listRoutes(sys, n.ns)).filter((r) => (r as { type?: string }).type === undefined || (r as { type?: string }).type === 'unicast').map(
    (r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}`,
  );
  const ks = await sys.query(['ip', 'netns', 'exec', n.ns, 'nft', '-j', 'list', 'counter', 'inet', n.nsTable, 'blocked'], { allowFail: true });
  report.firewall.killSwitch = ks.code === 0;
  if (ks.code === 0) {
    const c = (JSON.parse(ks.stdout) as { nftables: Array<{ counter?: { packets: number } }> }).nftables.find((x) => x.counter);
    report.firewall.killSwitchBlocked = c?.counter?.packets;
  }
  const pids = (await sys.query(['ip', 'netns', 'pids', n.ns], { allowFail: true })).stdout.split(/\s+/).filter(Boolean);
  for (const p of pids) {
    const comm = ((await readText(`/proc/${p}/cmdline`)) ?? '').split('\0').filter(Boolean).join(' ');
    report.processes.push({ pid: Number(p), command: comm.slice(0, 120) });
  }
  if (state) {
    const pid = supervisorPid(state);
    if (pid) report.supervisor = { pid, alive: isAlive(pid), ...(fatal ? { fatal } : {}), ...(ours && !asked && { answering: false }) };
  }
  if (used.vpn.type !== 'none' && state?.runtime.vpn) {
    const prepared = state.runtime.vpn as PreparedVpn;
    const live = await providerFor(used.vpn)
      .status(vpnContext({ sys, cfg: used, names: n }), prepared)
      .catch((e: Error) => ({ connected: false, detail: e.message }) as VpnStatus);
    report.vpn = { type: used.vpn.type, ...live, implementation: prepared.info.implementation };
    // The egress address: the supervisor's last probe if recent, else one request now.
    const d = report.components.vpn?.detail as { egressIp?: string; probedAt?: string } | undefined;
    const fresh = d?.probedAt && Date.now() - Date.parse(d.probedAt) < Math.max(2 * used.supervisor.probeInterval, 30) * 1000;
    if (d?.egressIp && fresh) Object.assign(report.vpn, { egressIp: d.egressIp, egressMeasuredAt: d.probedAt });
    else if (opts.probe !== false && live.connected && used.check.echoUrl[0]) {
      const p = await probeInside(sys, n.ns, used.check.echoUrl[0], used.check.timeout);
      Object.assign(report.vpn, p.ok ? { egressIp: p.ip, egressMeasuredAt: new Date().toISOString() } : { egressError: p.error });
    }
  } else report.vpn = { type: used.vpn.type };
  return report;
}

/**
 * Without root, entering the namespace and listing nftables are refused: show the supervisor's own
 * view (status.json is world-readable) and say plainly what is missing, rather than "MISSING".
 */
function limitedReport(report: StatusReport, used: Config): StatusReport {
  report.limited = 'not run as root: firewall, addresses, routes and processes are not shown; `sudo vpnns status` shows everything';
  const vpn = report.components.vpn;
  const d = (vpn?.detail ?? {}) as Partial<VpnStatus> & { tunnel?: string; egressIp?: string; probedAt?: string };
  report.vpn =
    used.vpn.type === 'none'
      ? { type: 'none' }
      : {
          type: used.vpn.type,
          connected: vpn?.state === 'running' && d.connected !== false,
          tunnel: d.tunnel,
          endpoint: d.endpoint,
          handshakeAge: d.handshakeAge,
          rxBytes: d.rxBytes,
          txBytes: d.txBytes,
          egressIp: d.egressIp,
          egressMeasuredAt: d.probedAt,
        };
  return report;
}

/** What `vpnns status` exits 0 for: the namespace up, the VPN connected if one is configured, and its supervisor answering. */
export function statusHealthy(r: Pick<StatusReport, 'up' | 'vpn' | 'supervisor'>): boolean {
  // A supervisor that does not answer keeps nothing connected: not healthy, whatever the tunnel says now.
  return r.up && (r.vpn?.type === 'none' || r.vpn?.connected === true) && r.supervisor?.answering !== false;
}
