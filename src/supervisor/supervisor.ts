// The long-running part of vpnns: keeps the VPN client connected (restart with backoff while the
// kill switch stays loaded), runs the processes that hang off it (proxies, forwards, apps) and
// restarts them when they die, and publishes everyone's state in status.json.
import { EventEmitter } from 'node:events';
import type { Config } from '../config/types.js';
import type { Names } from '../plan/names.js';
import type { State } from '../plan/state.js';
import { System } from '../sys/system.js';
import { startProcess, sleep, type ProcessSpec, type Running } from '../sys/process.js';
import { providerFor } from '../vpn/registry.js';
import type { PreparedVpn, VpnSession } from '../vpn/provider.js';
import { vpnContext } from '../vpn/prepare-resource.js';
import { effectiveDns, writeNamespaceResolv } from '../net/dns-files.js';
import { Backoff } from './backoff.js';
import { probeHost, probeInside } from './probe.js';
import { createLogger, logDirFor, type Logger } from './log.js';
import { writeStatusSync, type ComponentStatus, type SupervisorStatus } from './status.js';
import { serviceSpecs, type ServiceSpec } from './services.js';
import { runningConfig } from '../services/added-publications.js';
import { DnsGuard, watchHostDnsFiles } from '../net/dns-guard.js';
import { readWanted } from './wanted.js';
import { renderMetrics, serveMetrics, type MetricsServer } from './metrics.js';
import '../services/index.js';

export class Supervisor {
  readonly status: SupervisorStatus;
  readonly events = new EventEmitter();
  private stopping = false;
  private stopWaiters: Array<() => void> = [];
  private readonly sys = new System(false);
  private readonly log: Logger;
  private vpnSession: VpnSession | undefined;
  private readonly running = new Map<string, Running>();
  private tunnelUp = false;
  /** The live tunnel interface (AdGuard picks its own name at connect time). */
  private tunnel: string | undefined;
  private hostEgress: string | undefined;
  private probes = 0;
  /** The services this supervisor may run, and the loops running now (stoppable one by one). */
  private specs: ServiceSpec[] | undefined;
  private readonly loops = new Map<string, { spec: ServiceSpec; halt: () => void; done: Promise<void> }>();
  private reconciling: Promise<void> = Promise.resolve();
  private readonly onReconcileSignal = () => void this.reconcile();
  /** Numbers for the metrics endpoint that are not in the status file. */
  readonly metrics: { probeLatencyMs?: number } = {};
  private metricsServer: MetricsServer | undefined;

  constructor(
    readonly cfg: Config,
    readonly names: Names,
    readonly state: State,
    private readonly opts: { logToStderr?: boolean; /** Run only the VPN loop (systemd runs the rest as units). */ only?: 'vpn' } = {},
  ) {
    this.log = createLogger(`${logDirFor(cfg)}/vpnns.log`, 'supervisor', opts.logToStderr);
    const now = new Date().toISOString();
    this.status = { pid: process.pid, startedAt: now, updatedAt: now, components: {} };
    this.events.setMaxListeners(100);
  }

  /**
   * A bug must not end the supervisor silently: what crashed it goes to the log and the status file
   * (`vpnns status` shows it next to the dead PID), then it exits non-zero. The kill switch stays
   * loaded, so nothing leaks; `vpnns up` (or systemd's Restart=) starts a fresh one.
   */
  exitOnCrash(): void {
    const crash = (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      this.log('error', 'supervisor crashed', { error: err.message, stack: err.stack });
      this.status.fatal = `the supervisor crashed: ${err.message}`;
      try {
        writeStatusSync(this.names, this.status);
      } catch {
        /* the log line above is what is left */
      }
      process.exit(70);
    };
    process.on('uncaughtException', crash);
    process.on('unhandledRejection', crash);
  }

  /** A service that no longer exists (a publication removed at run time) leaves the status. */
  private forget(name: string): void {
    delete this.status.components[name];
    this.status.updatedAt = new Date().toISOString();
    writeStatusSync(this.names, this.status);
  }

  private set(name: string, patch: Partial<ComponentStatus>): void {
    const prev = this.status.components[name] ?? { state: 'starting', since: new Date().toISOString(), restarts: 0 };
    const next = { ...prev, ...patch };
    if (patch.state && patch.state !== prev.state) next.since = new Date().toISOString();
    this.status.components[name] = next;
    this.status.updatedAt = new Date().toISOString();
    writeStatusSync(this.names, this.status);
  }

  /** Runs until stop(). Rejects only if the very first VPN connection fails (so `up` can report and roll back). */
  async run(): Promise<void> {
    this.log('info', 'supervisor starting', { namespace: this.names.ns, vpn: this.cfg.vpn.type });
    // `vpnns app start|stop` writes what it wants under wanted/ and sends SIGUSR1. Listening from the
    // start also keeps Node from taking an early SIGUSR1 as "open the inspector".
    if (this.opts.only !== 'vpn') process.on('SIGUSR1', this.onReconcileSignal);
    await this.startMetrics();
    void this.dnsGuardLoop();
    const loops: Promise<void>[] = [];
    const firstConnect = this.cfg.vpn.type !== 'none' ? this.vpnLoop() : Promise.resolve();
    try {
      await Promise.race([firstConnect.then(() => undefined), this.waitConnectedOnce()]);
    } catch (e) {
      this.status.fatal = (e as Error).message;
      writeStatusSync(this.names, this.status);
      this.log('error', 'first connection failed', { error: (e as Error).message });
      throw e;
    }
    if (this.opts.only !== 'vpn') {
      const specs = serviceSpecs(await runningConfig(this.cfg, this.names), this.names);
      const wanted = await readWanted(this.names);
      for (const spec of specs) {
        if ((wanted[spec.name] ?? (spec.manual ? 'stop' : 'start')) === 'start') loops.push(this.startLoop(spec));
        else this.set(spec.name, { state: 'stopped' });
      }
      this.specs = specs;
      // A request that came while we were connecting.
      void this.reconcile();
    }
    loops.push(firstConnect);
    await Promise.all(loops);
    // Services started later on request end only with the supervisor.
    if (!this.stopping && this.specs?.some((s) => s.manual)) await this.stopped();
  }

  /** Starts and stops services to match wanted/ (else the config: autostart or not). Serialized. */
  reconcile(): Promise<void> {
    this.reconciling = this.reconciling.then(async () => {
      if (!this.specs || this.stopping) return;
      // Publications added or removed at run time (`vpnns publish add|remove`) change the services.
      this.specs = serviceSpecs(await runningConfig(this.cfg, this.names), this.names);
      for (const [name, loop] of [...this.loops]) {
        const spec = this.specs.find((s) => s.name === name);
        if (spec && JSON.stringify(spec.process) === JSON.stringify(loop.spec.process)) continue;
        loop.halt();
        await loop.done;
        if (!spec) this.forget(name);
      }
      const wanted = await readWanted(this.names);
      for (const spec of this.specs) {
        const want = wanted[spec.name] ?? (spec.manual ? 'stop' : 'start');
        const loop = this.loops.get(spec.name);
        if (want === 'stop' && loop) {
          loop.halt();
          await loop.done;
        } else if (want === 'start' && !loop) {
          void this.startLoop(spec);
        }
      }
    }).catch((e: unknown) => this.log('error', 'reconcile failed', { error: (e as Error).message }));
    return this.reconciling;
  }

  private startLoop(spec: ServiceSpec): Promise<void> {
    let halt!: () => void;
    const halted = new Promise<'stop'>((r) => (halt = () => r('stop')));
    const done = this.serviceLoop(spec, halted).finally(() => this.loops.delete(spec.name));
    this.loops.set(spec.name, { spec, halt, done });
    return done;
  }

  /** Metrics are an extra: a port already taken is logged, never fatal to the VPN. */
  private async startMetrics(): Promise<void> {
    if (!this.cfg.metrics.enabled) return;
    try {
      this.metricsServer = await serveMetrics(this.cfg.metrics.listen, () =>
        renderMetrics({ status: this.status, namespace: this.names.ns, vpnType: this.cfg.vpn.type, probeLatencyMs: this.metrics.probeLatencyMs }),
      );
      this.log('info', 'metrics served', { url: `http://${this.metricsServer.address}/metrics` });
    } catch (e) {
      this.log('error', 'could not serve metrics', { listen: this.cfg.metrics.listen, error: (e as Error).message });
    }
  }

  private waitConnectedOnce(): Promise<void> {
    if (this.cfg.vpn.type === 'none') return Promise.resolve();
    return new Promise((resolve) => this.events.once('tunnel-up', () => resolve()));
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    process.off('SIGUSR1', this.onReconcileSignal);
    this.log('info', 'supervisor stopping');
    for (const w of this.stopWaiters) w();
    await this.metricsServer?.close();
    await Promise.all([...this.running.values()].map((r) => r.stop(3000)));
    await this.vpnSession?.stop().catch(() => {});
    for (const name of Object.keys(this.status.components)) this.set(name, { state: 'stopped', pid: undefined });
  }

  private stopped(): Promise<'stop'> {
    return new Promise((r) => (this.stopping ? r('stop') : this.stopWaiters.push(() => r('stop'))));
  }

  private async interruptibleSleep(ms: number): Promise<void> {
    if (ms <= 0) return;
    await Promise.race([sleep(ms), this.stopped()]);
  }

  /** The namespace's DNS files stay in front of every process inside, also after the host replaces its own. */
  private async dnsGuardLoop(): Promise<void> {
    const glog = this.log.child('dns');
    let wake: (() => void) | undefined;
    const unwatch = watchHostDnsFiles(() => wake?.());
    const guard = new DnsGuard(this.sys, this.names);
    try {
      while (!this.stopping) {
        try {
          const { rebound, skipped } = await guard.sweep();
          for (const r of rebound) {
            glog('warn', 'a process inside had lost the namespace\'s DNS files (the host replaced its own); bound them again', { pid: r.pid, files: r.files });
          }
          for (const s of skipped) glog('warn', `DNS files not checked for pid ${s.pid}: ${s.reason}`, { pid: s.pid });
        } catch (e) {
          glog('error', 'could not check the DNS files of the processes inside', { error: (e as Error).message });
        }
        await Promise.race([sleep(this.cfg.supervisor.healthInterval * 1000), this.stopped(), new Promise<void>((r) => (wake = r))]);
      }
    } finally {
      unwatch();
    }
  }

  private async vpnLoop(): Promise<void> {
    const provider = providerFor(this.cfg.vpn);
    const prepared = this.state.runtime.vpn as PreparedVpn;
    const vlog = this.log.child('vpn');
    const vctx = vpnContext({ sys: this.sys, cfg: this.cfg, names: this.names }, (level, msg, fields) => vlog(level, msg, fields));
    const backoff = new Backoff();
    let everConnected = false;
    let restarts = 0;
    while (!this.stopping) {
      this.set('vpn', { state: 'starting', restarts });
      backoff.started();
      let session: VpnSession;
      try {
        session = await provider.start(vctx, prepared);
      } catch (e) {
        const msg = (e as Error).message;
        if (!everConnected) throw e;
        vlog('error', 'reconnect failed', { error: msg });
        const delay = Math.max(1000, backoff.next());
        restarts++;
        this.set('vpn', { state: 'backoff', lastError: msg, restarts, detail: { retryInMs: delay, storm: backoff.storm } });
        await this.interruptibleSleep(delay);
        continue;
      }
      if (this.stopping) {
        await session.stop();
        break;
      }
      this.vpnSession = session;
      everConnected = true;
      await this.applyVpnDns(session, prepared);
      vlog('info', 'connected', { tunnel: session.tunnel, pid: session.process?.pid });
      this.set('vpn', { state: 'running', pid: session.process?.pid, detail: { tunnel: session.tunnel } });
      this.tunnelUp = true;
      this.tunnel = session.tunnel;
      this.events.emit('tunnel-up', session.tunnel);

      const why = await Promise.race([session.ended, this.stopped(), this.healthWatch(session, provider, vctx, prepared)]);
      this.tunnelUp = false;
      this.events.emit('tunnel-down');
      if (why === 'stop') break;
      restarts++;
      vlog('warn', 'VPN client lost; restarting', { reason: why, restarts });
      this.set('vpn', { state: 'backoff', lastError: why, restarts, pid: undefined });
      await session.stop().catch(() => {});
      this.vpnSession = undefined;
      const delay = backoff.next();
      if (backoff.storm) vlog('error', 'VPN client restart storm', { restartsInWindow: backoff.restartsInWindow });
      this.set('vpn', { detail: { retryInMs: delay, storm: backoff.storm } });
      await this.interruptibleSleep(delay);
    }
  }

  /**
   * Resolves with a reason to restart the client: the provider says it is not connected twice in a
   * row, probes through the tunnel keep failing, or a probe sees the host's own address (a leak).
   * It ends with its session: a watcher left over from an earlier session would multiply probes.
   */
  private async healthWatch(
    session: VpnSession,
    provider: ReturnType<typeof providerFor>,
    vctx: ReturnType<typeof vpnContext>,
    prepared: PreparedVpn,
  ): Promise<string> {
    const { healthInterval, probeInterval, probeFailures } = this.cfg.supervisor;
    const url = this.cfg.check.echoUrl[0];
    let bad = 0;
    let probeBad = 0;
    let lastProbe = 0;
    for (let first = true; ; first = false) {
      if (!first) await Promise.race([sleep(healthInterval * 1000), this.stopped()]);
      if (this.stopping || !this.tunnelUp || this.vpnSession !== session) return 'stop';
      const st = await provider.status(vctx, prepared).catch((e: Error) => ({ connected: false, detail: e.message }));
      this.set('vpn', { detail: { ...this.status.components.vpn?.detail, ...st, checkedAt: new Date().toISOString() } });
      bad = st.connected ? 0 : bad + 1;
      if (bad >= 2) return `health check failed: ${st.detail ?? 'not connected'}`;
      if (!url || probeInterval === 0 || Date.now() - lastProbe < probeInterval * 1000) continue;
      lastProbe = Date.now();
      const p = await probeInside(this.sys, this.names.ns, url);
      if (this.stopping || !this.tunnelUp || this.vpnSession !== session) return 'stop';
      // The host's own egress, measured now and then, is what the tunnel's must never be.
      if (p.ok && (this.hostEgress === undefined || this.probes++ % 10 === 0)) {
        const hp = await probeHost(this.sys, url, 10, this.cfg.check.hostDns ?? ('resolveWith' in this.cfg.vpn ? this.cfg.vpn.resolveWith : undefined));
        if (hp.ok) this.hostEgress = hp.ip;
      }
      this.set('vpn', {
        detail: {
          ...this.status.components.vpn?.detail,
          egressIp: p.ip,
          hostEgressIp: this.hostEgress,
          probeLatencyMs: p.ms,
          probeError: p.error,
          probedAt: new Date().toISOString(),
        },
      });
      this.metrics.probeLatencyMs = p.ok ? p.ms : undefined;
      if (p.ok && p.ip === this.hostEgress) {
        this.log.child('vpn')('error', 'traffic through the tunnel leaves with the host\'s own address', { egressIp: p.ip });
        return `egress leak: the probe saw the host's own address ${p.ip}`;
      }
      probeBad = p.ok ? 0 : probeBad + 1;
      if (!p.ok) this.log.child('vpn')('warn', 'probe through the tunnel failed', { url, error: p.error, consecutive: probeBad });
      if (probeBad >= probeFailures) return `${probeBad} probes through the tunnel failed: ${p.error}`;
    }
  }

  private async applyVpnDns(session: VpnSession, prepared: PreparedVpn): Promise<void> {
    const vpnDns = session.dns ?? prepared.dns;
    // status.json, not state.json: the supervisor never writes the file `up` owns.
    this.status.vpnDns = vpnDns;
    const { servers, source } = effectiveDns(this.cfg.dns, vpnDns);
    await writeNamespaceResolv(this.sys, this.names.etcDir, servers, source);
  }

  /** A daemon that hangs off the tunnel (or not): started when allowed, restarted with backoff when it dies. */
  private async serviceLoop(spec: ServiceSpec, halted: Promise<'stop'>): Promise<void> {
    const slog = this.log.child(spec.name);
    const backoff = new Backoff();
    let restarts = 0;
    let halt = false;
    void halted.then(() => (halt = true));
    const stopOrHalt = () => Promise.race([this.stopped(), halted]);
    while (!this.stopping && !halt) {
      if (spec.needsTunnel && !this.tunnelUp) {
        this.set(spec.name, { state: 'waiting', pid: undefined, detail: { waitingFor: 'tunnel' } });
        await Promise.race([new Promise((r) => this.events.once('tunnel-up', r)), stopOrHalt()]);
        continue;
      }
      this.set(spec.name, { state: 'starting', restarts });
      backoff.started();
      try {
        await spec.prepare?.(this.sys, { tunnel: this.tunnel });
      } catch (e) {
        // A failed preparation is a failed start: back off and try again, never take the supervisor down.
        restarts++;
        const delay = Math.max(1000, backoff.next());
        slog('error', 'could not prepare', { error: (e as Error).message, retryInMs: delay });
        this.set(spec.name, { state: 'backoff', lastError: (e as Error).message, restarts, detail: { retryInMs: delay } });
        await Promise.race([sleep(delay), stopOrHalt()]);
        continue;
      }
      const proc = startProcess(spec.process, { logFile: spec.logFile ?? `${logDirFor(this.cfg)}/${spec.name}.log` });
      this.running.set(spec.name, proc);
      this.set(spec.name, { state: 'running', pid: proc.pid, restarts });
      slog('info', 'started', { pid: proc.pid });
      const tunnelDown = (spec.followsTunnel ?? spec.needsTunnel) ? new Promise<string>((r) => this.events.once('tunnel-down', () => r('tunnel went down'))) : new Promise<string>(() => {});
      const why = await Promise.race([proc.exited.then((r) => `exited (${r.signal ?? `code ${r.code}`})`), tunnelDown, this.stopped(), halted]);
      if (why === 'stop' && this.stopping) {
        this.running.delete(spec.name);
        break;
      }
      await proc.stop(spec.stopGraceMs ?? 2000);
      this.running.delete(spec.name);
      if (halt || why === 'stop') break;
      if (why === 'tunnel went down') {
        // Not a failure: it follows the tunnel and comes back with it.
        slog('info', 'stopped with the tunnel');
        continue;
      }
      restarts++;
      const delay = backoff.next();
      slog('warn', 'died; restarting', { reason: why, restarts, retryInMs: delay });
      if (backoff.storm) slog('error', 'restart storm', { restartsInWindow: backoff.restartsInWindow });
      this.set(spec.name, { state: 'backoff', lastError: why, restarts, pid: undefined, detail: { retryInMs: delay, storm: backoff.storm } });
      await Promise.race([sleep(Math.max(delay, 200)), stopOrHalt()]);
    }
    if (halt && !this.stopping) {
      slog('info', 'stopped on request');
      this.set(spec.name, { state: 'stopped', pid: undefined, detail: undefined });
    }
  }
}

export type { ProcessSpec };
