// What every loop of the supervisor shares: the config it runs, the status it publishes, the tunnel
// as the VPN loop last saw it, and one AbortSignal that ends everything. The loops (one file each:
// vpn-session, health-watch, probe-watch, dns-guard-loop, service-loop, metrics) get this and
// nothing else, so none of them keeps a reference to another.
import { EventEmitter } from 'node:events';
import type { Config } from '../config/types.js';
import type { Names } from '../core/names.js';
import type { State } from '../core/state.js';
import { System } from '../sys/system.js';
import type { Logger } from '../core/log.js';
import type { BackoffOptions } from './backoff.js';
import { writeStatusSync, type ComponentStatus, type SupervisorStatus } from '../core/status.js';

export class SupervisorCore {
  readonly status: SupervisorStatus;
  /** 'tunnel-up' (tunnel name) and 'tunnel-down'. Waiters use nextEvent() and go away with their signal. */
  readonly events = new EventEmitter();
  readonly sys = new System(false);
  private readonly root = new AbortController();
  /** Aborted by stop(): every loop ends through it. */
  readonly signal = this.root.signal;
  tunnelUp = false;
  /** The live tunnel interface (AdGuard picks its own name at connect time). */
  tunnel: string | undefined;
  hostEgress: string | undefined;
  probes = 0;
  /** Numbers for the metrics endpoint that are not in the status file. */
  readonly metrics: { probeLatencyMs?: number } = {};

  constructor(
    public cfg: Config,
    readonly names: Names,
    readonly state: State,
    readonly log: Logger,
    readonly backoff?: Partial<BackoffOptions>,
  ) {
    const now = new Date().toISOString();
    this.status = { pid: process.pid, startedAt: now, updatedAt: now, components: {} };
  }

  get stopping(): boolean {
    return this.signal.aborted;
  }

  abort(): void {
    this.root.abort();
  }

  write(): void {
    this.status.updatedAt = new Date().toISOString();
    writeStatusSync(this.names, this.status);
  }

  set(name: string, patch: Partial<ComponentStatus>): void {
    const prev = this.status.components[name] ?? { state: 'starting', since: new Date().toISOString(), restarts: 0 };
    const next = { ...prev, ...patch };
    if (patch.state && patch.state !== prev.state) next.since = new Date().toISOString();
    this.status.components[name] = next;
    this.write();
    this.events.emit('status', name);
  }

  /** A service that no longer exists (a publication removed at run time) leaves the status. */
  forget(name: string): void {
    delete this.status.components[name];
    this.write();
    this.events.emit('status', name);
  }
}
