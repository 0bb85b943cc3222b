// The long-running part of vpnns: keeps the VPN client connected (restart with backoff while the
// kill switch stays loaded), runs the processes that hang off it (proxies, forwards, apps) and
// restarts them when they die, publishes everyone's state in status.json, and answers the CLI on its
// control socket. This file is the small core that ties the loops together; each loop lives in its
// own file and ends through an AbortSignal (see core.ts).
import { makeDir } from '../sys/files.js';
import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Config } from '../config/types.js';
import type { Names } from '../core/names.js';
import { readState, type State } from '../core/state.js';
import type { VpnSession } from '../vpn/provider.js';
import type { ProcessSpec } from '../sys/process.js';
import { UsageError, VpnnsError } from '../errors.js';
import { createLogger, logDirFor } from '../core/log.js';
import { writeStatusSync, type ComponentStatus, type SupervisorStatus } from '../core/status.js';
import { serviceSpecs, type ServiceSpec } from '../core/services.js';
import { ADDED_ORIGIN, entryFromArgs, publishedKey, readAdded, withAdded, writeAdded } from '../services/added-publications.js';
import { readWanted, writeWanted, type Wanted } from './wanted.js';
import { renderMetrics, serveMetrics, type MetricsServer } from './metrics.js';
import { SupervisorCore } from './core.js';
import type { BackoffOptions } from './backoff.js';
import { ABORTED, childController, nextEvent, sleepUnless, waitFor } from './abort.js';
import { vpnLoop } from './vpn-session.js';
import { dnsGuardLoop } from './dns-guard-loop.js';
import { serviceLoop, type ServiceHandle } from './service-loop.js';
import { serveControl, type ControlServer } from './control-server.js';
import { controlSocketPath, type Request } from './control-protocol.js';
import { formatHostPort } from '../config/net-utils.js';
import { publication, publications } from '../services/publish.js';
import type { PublishConfig } from '../config/types.js';
import { canListen, tcpConnect } from '../net/ports.js';
import { hostTableResource } from '../firewall/host-table.js';
import { isListening } from '../net/listening.js';
import { reloadableKey } from './resource.js';
import '../services/index.js';
import { traceMark } from '../sys/trace.js';

/**
 * What decides whether a running service must be restarted: its spec as rendered from the config,
 * taken before prepare() runs (prepare may add to it, e.g. code-server's PASSWORD in its env).
 */
export function specKey(spec: ServiceSpec): string {
  return JSON.stringify({ process: spec.process, needsTunnel: spec.needsTunnel, followsTunnel: spec.followsTunnel, logFile: spec.logFile, key: spec.key });
}


interface Loop {
  key: string;
  stop: AbortController & { dispose(): void };
  handle: ServiceHandle;
  done: Promise<void>;
}

export interface SupervisorOptions {
  logToStderr?: boolean;
  /** Run only the VPN loop (systemd runs the rest as units). */
  only?: 'vpn';
  /** Tests: restart delays. */
  backoff?: Partial<BackoffOptions>;
  /** Tests: the services instead of those rendered from the config. */
  services?: (cfg: Config, names: Names) => ServiceSpec[];
  /** Tests: no DNS guard (it looks at processes inside a real namespace). */
  noDnsGuard?: boolean;
  /** `up` made the namespace and started this supervisor with it (`supervise --await-go`). */
  freshNamespace?: boolean;
}

export class Supervisor {
  private readonly core: SupervisorCore;
  private vpnSession: VpnSession | undefined;
  private specs: ServiceSpec[] | undefined;
  private readonly loops = new Map<string, Loop>();
  /** What `vpnns app start|stop` asked for; kept in wanted/ too, for a restart of the supervisor. */
  private wanted: Record<string, Wanted> = {};
  /** Ports added with `vpnns publish add`; kept in published.json too. */
  private added: PublishConfig[] = [];
  /** Changes (reconcile, publish, reload) one at a time. */
  private serial: Promise<unknown> = Promise.resolve();
  private metricsServer: MetricsServer | undefined;
  private control: ControlServer | undefined;
  private stopped: Promise<void> | undefined;

  constructor(
    cfg: Config,
    names: Names,
    state: State,
    private readonly opts: SupervisorOptions = {},
  ) {
    const log = createLogger(`${logDirFor(cfg)}/vpnns.log`, 'supervisor', opts.logToStderr);
    this.core = new SupervisorCore(cfg, names, state, log, opts.backoff);
  }

  get status(): SupervisorStatus {
    return this.core.status;
  }
  get events() {
    return this.core.events;
  }
  get metrics() {
    return this.core.metrics;
  }
  get cfg(): Config {
    return this.core.cfg;
  }
  get names(): Names {
    return this.core.names;
  }
  /** Tests: how many loops (and so controllers) are alive. */
  get loopCount(): number {
    return this.loops.size;
  }
  /** Tests: the signal every loop hangs off. */
  get signal(): AbortSignal {
    return this.core.signal;
  }

  /**
   * A bug must not end the supervisor silently: what crashed it goes to the log and the status file
   * (`vpnns status` shows it next to the dead PID), then it exits non-zero. The kill switch stays
   * loaded, so nothing leaks; `vpnns up` (or systemd's Restart=) starts a fresh one.
   */
  exitOnCrash(): void {
    const crash = (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      this.core.log('error', 'supervisor crashed', { error: err.message, stack: err.stack });
      this.core.status.fatal = `the supervisor crashed: ${err.message}`;
      try {
        writeStatusSync(this.core.names, this.core.status);
      } catch {
        /* the log line above is what is left */
      }
      process.exit(70);
    };
    process.on('uncaughtException', crash);
    process.on('unhandledRejection', crash);
  }

  private renderSpecs(): ServiceSpec[] {
    const cfg = withAdded(this.core.cfg, this.added);
    return (this.opts.services ?? serviceSpecs)(cfg, this.core.names);
  }

  /** Runs until stop(). Rejects only if the very first VPN connection fails (so `up` can report and roll back). */
  async run(): Promise<void> {
    const core = this.core;
    core.log('info', 'supervisor starting', { namespace: core.names.ns, vpn: core.cfg.vpn.type });
    traceMark('supervisor: run');
    // Listening keeps Node from taking a stray SIGUSR1 (what older CLIs sent) as "open the inspector".
    process.on('SIGUSR1', ignore);
    await this.startMetrics();
    if (this.opts.only !== 'vpn') {
      await makeDir(core.names.stateDir, 0o755);
      this.wanted = await readWanted(core.names);
      this.added = await readAdded(core.names);
      try {
        this.control = await serveControl(controlSocketPath(core.names), (req) => this.handle(req));
      } catch (e) {
        core.log('error', 'could not serve the control socket', { error: (e as Error).message });
      }
    }
    const guard = this.opts.noDnsGuard ? Promise.resolve() : dnsGuardLoop(core, core.signal);
    const vpn = core.cfg.vpn.type !== 'none' ? vpnLoop(core, (s) => (this.vpnSession = s), this.opts.freshNamespace) : Promise.resolve();
    try {
      await Promise.race([vpn, this.waitConnectedOnce()]);
    } catch (e) {
      core.status.fatal = (e as Error).message;
      core.write();
      core.log('error', 'first connection failed', { error: (e as Error).message });
      throw e;
    }
    if (this.opts.only !== 'vpn' && !core.stopping) {
      this.specs = this.renderSpecs();
      for (const spec of this.specs) {
        if (this.want(spec) === 'start') this.startLoop(spec);
        else core.set(spec.name, { state: 'stopped' });
      }
      traceMark('supervisor: service loops started');
    }
    await vpn;
    // The services (also those started later on request) end only with the supervisor.
    await waitFor(core.signal, () => () => {});
    await guard;
  }

  private want(spec: ServiceSpec): Wanted {
    return this.wanted[spec.name] ?? (spec.manual ? 'stop' : 'start');
  }

  private waitConnectedOnce(): Promise<void> {
    if (this.core.cfg.vpn.type === 'none' || this.core.tunnelUp) return Promise.resolve();
    return nextEvent(this.core.events, 'tunnel-up', this.core.signal).then(() => undefined);
  }

  private startLoop(spec: ServiceSpec): void {
    // The key is taken now, before the loop's first prepare() can add to the spec.
    const key = specKey(spec);
    const stop = childController(this.core.signal);
    const handle: ServiceHandle = {};
    const done = serviceLoop(this.core, spec, stop.signal, handle)
      .catch((e: unknown) => this.core.log('error', 'service loop failed', { service: spec.name, error: (e as Error).message }))
      .finally(() => {
        stop.dispose();
        if (this.loops.get(spec.name)?.done === done) this.loops.delete(spec.name);
      });
    this.loops.set(spec.name, { key, stop, handle, done });
  }

  private async haltLoop(name: string): Promise<void> {
    const loop = this.loops.get(name);
    if (!loop) return;
    loop.stop.abort();
    await loop.done;
    this.loops.delete(name);
  }

  /** One change at a time, in order; an error is the caller's, never the next change's. */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.serial.then(fn);
    this.serial = next.catch(() => {});
    return next;
  }

  /** Starts and stops services to match the config, what was added and what was asked for. Only a service whose own spec changed is restarted. */
  private async reconcile(): Promise<void> {
    if (this.opts.only === 'vpn' || !this.specs || this.core.stopping) return;
    this.specs = this.renderSpecs();
    for (const [name, loop] of [...this.loops]) {
      const spec = this.specs.find((s) => s.name === name);
      if (spec && specKey(spec) === loop.key && this.want(spec) === 'start') continue;
      await this.haltLoop(name);
      if (!spec) this.core.forget(name);
      else if (this.want(spec) === 'stop') {
        this.core.log.child(name)('info', 'stopped on request');
        this.core.set(name, { state: 'stopped', pid: undefined, detail: undefined, crashLooping: undefined });
      }
    }
    const present = new Set(this.specs.map((s) => s.name));
    for (const name of Object.keys(this.core.status.components)) {
      if (name !== 'vpn' && !present.has(name) && !this.loops.has(name)) this.core.forget(name);
    }
    for (const spec of this.specs) {
      if (this.want(spec) === 'start' && !this.loops.has(spec.name)) this.startLoop(spec);
      else if (this.want(spec) === 'stop' && !this.core.status.components[spec.name]) this.core.set(spec.name, { state: 'stopped' });
    }
  }

  /** Metrics are an extra: a port already taken is logged, never fatal to the VPN. */
  private async startMetrics(): Promise<void> {
    const cfg = this.core.cfg;
    if (!cfg.metrics.enabled) return;
    try {
      this.metricsServer = await serveMetrics(cfg.metrics.listen, () =>
        renderMetrics({ status: this.core.status, namespace: this.core.names.ns, vpnType: this.core.cfg.vpn.type, probeLatencyMs: this.core.metrics.probeLatencyMs }),
      );
      this.core.log('info', 'metrics served', { url: `http://${this.metricsServer.address}/metrics` });
    } catch (e) {
      this.core.log('error', 'could not serve metrics', { listen: cfg.metrics.listen, error: (e as Error).message });
    }
  }

  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    const core = this.core;
    process.off('SIGUSR1', ignore);
    core.log('info', 'supervisor stopping');
    await this.control?.close();
    core.abort();
    await this.metricsServer?.close();
    await Promise.all([...this.loops.values()].map((l) => l.done));
    await this.vpnSession?.stop().catch(() => {});
    for (const name of Object.keys(core.status.components)) core.set(name, { state: 'stopped', pid: undefined });
  }

  // ---- the control socket ----

  private async handle(req: Request): Promise<unknown> {
    switch (req.op) {
      case 'ping':
        return { pid: process.pid };
      case 'status':
        return this.core.status;
      case 'publish.list':
        return this.added;
      case 'stats':
        return this.stats(req.args.gc);
      case 'reload':
        return this.serialized(() => this.reload());
      case 'app.start':
      case 'app.stop':
        return this.appRequest(req.args.service, req.op === 'app.start' ? 'start' : 'stop', req.args.waitMs);
      case 'publish.add':
        return this.publishAdd(req.args);
      case 'publish.remove':
        return this.publishRemove(req.args);
    }
  }

  /** What the supervisor holds, for the soak benchmark and for anyone wondering: memory (after a full GC on request), loops, pending waiters. */
  private stats(gc: boolean): unknown {
    if (gc) fullGc();
    const e = this.core.events;
    return {
      memory: process.memoryUsage(),
      loops: this.loops.size,
      pending: { abort: getEventListeners(this.core.signal, 'abort').length, ...Object.fromEntries(e.eventNames().map((n) => [String(n), e.listenerCount(n)])) },
    };
  }

  private requireServices(): void {
    if (this.opts.only === 'vpn' || !this.specs) throw new VpnnsError('the supervisor is still connecting the VPN; try again in a few seconds.');
  }

  /** `up` saved a changed config: take on what can change while running (apps, publications, proxies). */
  private async reload(): Promise<{ restarted: boolean }> {
    const state = await readState(this.core.names);
    if (!state) throw new VpnnsError('the namespace has no state file; run `sudo vpnns up`.');
    if (reloadableKey(state.config) !== reloadableKey(this.core.cfg)) throw new VpnnsError('the config changed beyond apps, publications and proxies; the supervisor must be restarted (`sudo vpnns up` does that).');
    this.core.cfg = state.config;
    this.core.log('info', 'config reloaded');
    await this.reconcile();
    return { restarted: false };
  }

  private async appRequest(service: string, want: Wanted, waitMs: number): Promise<ComponentStatus | null> {
    this.requireServices();
    if (!this.specs!.some((s) => s.name === service)) throw new UsageError(`there is no service ${service} in the running config.`);
    const w = this.waiter();
    try {
      await this.serialized(async () => {
        this.wanted[service] = want;
        await writeWanted(this.core.names, service, want);
        await this.reconcile();
      });
      return await w.until(waitMs, () => {
        const c = this.core.status.components[service];
        if (want === 'stop') return !c || c.state === 'stopped' ? c ?? null : undefined;
        if (c?.state === 'running') return c;
        if (c?.state === 'backoff' && c.lastError) throw new VpnnsError(`${service} did not start (${c.lastError}); see \`vpnns logs ${service}\`.`);
        return undefined;
      }, () => `${service} did not ${want} within ${Math.round(waitMs / 1000)} s (state: ${this.core.status.components[service]?.state ?? 'unknown'}); see \`vpnns logs ${service}\`.`);
    } finally {
      w.dispose();
    }
  }

  /** Waits for status changes, with a deadline; nothing of it is left after dispose(). */
  private waiter() {
    const c = childController(this.core.signal);
    return {
      dispose: () => c.dispose(),
      until: async <T>(ms: number, test: () => T | undefined | Promise<T | undefined>, late: () => string): Promise<T> => {
        const deadline = Date.now() + ms;
        for (;;) {
          const v = await test();
          if (v !== undefined) return v;
          const left = deadline - Date.now();
          if (left <= 0) throw new VpnnsError(late());
          if (c.signal.aborted) throw new VpnnsError('the supervisor is stopping.');
          // A status change, or a quarter second (a port that starts answering is no status change).
          const tick = childController(c.signal);
          const r = await Promise.race([nextEvent(this.core.events, 'status', tick.signal), sleepUnless(Math.min(250, left), tick.signal)]);
          tick.dispose();
          if (r === ABORTED && c.signal.aborted) throw new VpnnsError('the supervisor is stopping.');
        }
      },
    };
  }

  private async applyAdded(next: PublishConfig[], kernel: boolean): Promise<void> {
    this.added = next;
    await writeAdded(this.core.names, next);
    // The host table reads the config plus published.json: it carries kernel publications and says
    // who may connect to every loopback publication, forwarder or kernel, so it goes first (a new
    // forwarder never listens unguarded). Its key stays in memory (state.json is `up`'s).
    await hostTableResource.apply({ sys: this.core.sys, cfg: this.core.cfg, names: this.core.names, state: structuredClone(this.core.state), say: () => {}, saveState: async () => {} });
    if (!kernel) await this.reconcile();
  }

  private async publishAdd(a: { target: string; host?: string; via?: 'forwarder' | 'relay' | 'kernel'; dryRun: boolean; waitMs: number }): Promise<unknown> {
    this.requireServices();
    const entry = entryFromArgs(a.target, a.host, a.via);
    const names = this.core.names;
    const pub = publication(entry, names, ADDED_ORIGIN);
    const key = formatHostPort(pub.listen);
    const how = pub.via === 'kernel' ? 'kernel DNAT' : pub.via === 'relay' ? 'forwarder, relay only' : 'forwarder';
    const result = { listen: key, target: formatHostPort(pub.target), via: pub.via, how };
    await this.serialized(async () => {
      const taken = publications(withAdded(this.core.cfg, this.added), names).find((p) => formatHostPort(p.listen) === key);
      if (taken) throw new UsageError(`${key} is already published (${taken.origin}, to ${formatHostPort(taken.target)}); remove it first or choose another host port.`);
      if (!(await canListen(pub.listen.host, pub.listen.port))) throw new UsageError(`port ${key} is already in use on the host; free it or choose another host port.`);
      if (a.dryRun) return;
      await this.applyAdded([...this.added, entry], pub.via === 'kernel');
    });
    if (a.dryRun || pub.via === 'kernel') return result;
    const w = this.waiter();
    try {
      await w.until(a.waitMs, async () => {
        const c = this.core.status.components[pub.name];
        if (c?.state === 'backoff' && c.lastError) throw new VpnnsError(`the forwarder for ${key} did not start (${c.lastError}); see \`vpnns logs ${pub.name}\`.`);
        // Running is not yet listening: the port answers when the command returns. Asked of the
        // socket table, not by connecting: the kernel fast path sends a connect from this host on to
        // the app, which may not be up yet (a port published before its app starts is fine).
        return c?.state === 'running' && (await isListening(pub.listen.host, pub.listen.port)) ? true : undefined;
      }, () => `the supervisor did not start the forwarder for ${key} within ${Math.round(a.waitMs / 1000)} s; see \`vpnns logs\`.`);
    } catch (e) {
      // Back to what was there: a publication that does not work is not left listed.
      await this.serialized(() => this.applyAdded(this.added.filter((p) => p !== entry), false)).catch(() => {});
      throw e;
    } finally {
      w.dispose();
    }
    return result;
  }

  private async publishRemove(a: { host: string; dryRun: boolean; waitMs: number }): Promise<unknown> {
    this.requireServices();
    const names = this.core.names;
    const key = publishedKey(a.host);
    return this.serialized(async () => {
      const i = this.added.findIndex((e) => formatHostPort(publication(e, names, ADDED_ORIGIN).listen) === key);
      if (i < 0) {
        const fromConfig = publications(this.core.cfg, names).find((p) => formatHostPort(p.listen) === key);
        if (fromConfig) throw new UsageError(`${key} comes from the config (${fromConfig.origin}); remove it there and run \`sudo vpnns up\`.`);
        throw new UsageError(`${key} is not published; \`vpnns publish list\` shows what is.`);
      }
      const pub = publication(this.added[i]!, names, ADDED_ORIGIN);
      if (a.dryRun) return { listen: key };
      await this.applyAdded(this.added.filter((_, j) => j !== i), pub.via === 'kernel');
      return { listen: key };
    });
  }
}

function ignore(): void {}

let gcFn: (() => void) | undefined;
/** A full collection without starting Node with --expose-gc (only when asked: it pauses everything for a few ms). */
function fullGc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

export type { ProcessSpec };
