// The supervisor as a resource of `up`: a detached `vpnns supervise` process (its own session, so it
// survives the terminal closing), waited on until the VPN is connected or has failed.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/types.js';
import type { Context, Resource } from '../core/resource.js';
import { VpnnsError } from '../errors.js';
import { isAlive, sleep, type HeldStart } from '../sys/process.js';
import type { System } from '../sys/system.js';
import { allProcesses, asProcId, identify, stillRunning, uidOf, type ProcId } from '../sys/proc-identity.js';
import type { Names } from '../core/names.js';
import { privateStatusPath, readStatus, statusPath } from '../core/status.js';
import { logDirFor } from '../core/log.js';
import { ANSWER_MS, ask, request, SupervisorSilent } from './control-client.js';
import { traceMark, tracing } from '../sys/trace.js';

const BIN = fileURLToPath(new URL('../../../bin/vpnns', import.meta.url));

export function needsSupervisor(cfg: Config): boolean {
  // Any app counts: `vpnns app start` asks the supervisor, autostart or not.
  return cfg.vpn.type !== 'none' || cfg.publish.length > 0 || Object.keys(cfg.apps).length > 0;
}

export function supervisorPid(state: { runtime: Record<string, unknown> }): number | undefined {
  const pid = state.runtime.supervisorPid;
  return typeof pid === 'number' ? pid : undefined;
}

/** The start time recorded with the PID (state files written before it was recorded have none). */
export function supervisorStart(state: { runtime: Record<string, unknown> }): number | undefined {
  const start = state.runtime.supervisorStart;
  return typeof start === 'number' ? start : undefined;
}

/** Our own uid (root for vpnns): a process of another user is never ours, whatever its argv says. */
const ourUid = () => process.getuid?.() ?? 0;

/** Every `vpnns supervise` process of a namespace, found by its argv (for cleanups that have no state). */
export function supervisorPidsOf(ns: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.includes('supervise') && argv.includes(ns) && uidOf(Number(pid)) === ourUid()) out.push(Number(pid));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/**
 * Is PID the supervisor `up` started? Its argv says so (anyone can write an argv), it runs as our
 * user (a user cannot make a root process), and, when the start time was recorded, it is that very
 * process and not a later one that was given the same number.
 */
export async function isOurSupervisor(pid: number | undefined, ns: string, start?: number): Promise<boolean> {
  if (!pid || !isAlive(pid)) return false;
  if (start !== undefined && !stillRunning({ pid, start })) return false;
  if (uidOf(pid) !== ourUid()) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('supervise') && cmdline.includes(ns);
}

/**
 * What is left of a supervisor that died (SIGKILL) in its process group: the processes it started
 * (each recorded with its start time in the status file) and their descendants. Only those:
 * a group whose leader is gone proves nothing by its number, since the number may have been handed
 * out again and a stranger's group made with it.
 */
export async function strandedOf(state: { runtime: Record<string, unknown> }, names: Pick<Names, 'stateDir'>): Promise<number[]> {
  const pgid = supervisorPid(state);
  if (!pgid) return [];
  const st = await readStatus(names);
  const roots: ProcId[] = [];
  const root = st && asProcId(st.pid, st.pidStart);
  if (root && root.pid === pgid) roots.push(root);
  for (const c of Object.values(st?.components ?? {})) {
    const id = asProcId(c.pid, c.pidStart);
    if (id) roots.push(id);
  }
  return provenMembers(pgid, roots);
}

/** Members of process group PGID that are one of `roots` (same PID and start time) or descend from one. */
export function provenMembers(pgid: number, roots: readonly ProcId[], procs = allProcesses()): number[] {
  const live = procs.filter((p) => p.state !== 'Z');
  const ours = new Set(live.filter((p) => roots.some((r) => r.pid === p.pid && r.start === p.start)).map((p) => p.pid));
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of live) {
      if (!ours.has(p.pid) && ours.has(p.ppid)) {
        ours.add(p.pid);
        grew = true;
      }
    }
  }
  return live.filter((p) => ours.has(p.pid) && p.pgid === pgid).map((p) => p.pid);
}

/**
 * Before `up` changes anything in a namespace that runs: its supervisor, if it lives, must answer a
 * ping. One that is stopped or hung would take no reload, and `up` would otherwise have saved the
 * new config and rewritten files by the time it found out; now it is one sentence, nothing changed.
 * (A live supervisor with no socket at all is left to the supervisor step: it replaces it.)
 */
export async function assertSupervisorAnswers(state: { runtime: Record<string, unknown> }, names: Pick<Names, 'stateDir' | 'ns'>): Promise<void> {
  if (!(await isOurSupervisor(supervisorPid(state), names.ns, supervisorStart(state)))) return;
  try {
    await request(names, { op: 'ping' });
  } catch (e) {
    if (e instanceof SupervisorSilent) throw e;
  }
}

/** What the running supervisor runs: a changed config is sent to it (`reload`) or needs a new one. */
function configKey(cfg: Config): string {
  return createHash('sha256').update(JSON.stringify({ ...cfg, source: undefined })).digest('hex').slice(0, 16);
}

/** Config fields a running supervisor can take on without a restart: all but apps, publications and proxies. */
export function reloadableKey(cfg: Config): string {
  return JSON.stringify({ ...cfg, apps: undefined, publish: undefined, proxies: undefined, source: undefined });
}

function baseKey(cfg: Config): string {
  return createHash('sha256').update(reloadableKey(cfg)).digest('hex').slice(0, 16);
}

/**
 * The supervisor's command line. A daemon that waits almost all the time has no use for V8's
 * optimizing compiler: without it (--no-opt) its optimized code and feedback do not pile up over
 * the first hours, and a 1 MiB young generation (it allocates little) keeps RSS small;
 * bench/soak.ts measures both. --await-go: started early, it waits for `up` (see prestartSupervisor).
 */
function supervisorArgv(names: Names, awaitGo: boolean): string[] {
  return [process.execPath, '--no-opt', '--max-semi-space-size=1', BIN, ...(tracing() ? ['--trace-timing'] : []), 'supervise', '--namespace', names.ns, ...(awaitGo ? ['--await-go'] : [])];
}

function supervisorOut(cfg: Config): string {
  return `${logDirFor(cfg)}/supervisor.out`;
}

function logError(cfg: Config, e: unknown): VpnnsError {
  return new VpnnsError(`cannot open ${supervisorOut(cfg)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); vpnns never writes a log through a link: remove it and run \`vpnns up\` again.`);
}

/** Waits of at most MS that end early when something in DIR changes (a watch; without one, plain sleeps). */
function wakeOnChange(dir: string): { next(ms: number): Promise<void>; close(): void } {
  let changed = false;
  let wakeUp: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, () => {
      changed = true;
      wakeUp?.();
    });
    watcher.on('error', () => {});
  } catch {
    /* no watch: the waits are the poll */
  }
  return {
    next(ms) {
      if (changed) {
        changed = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => wakeUp?.(), ms);
        wakeUp = () => {
          clearTimeout(timer);
          wakeUp = undefined;
          changed = false;
          resolve();
        };
      });
    },
    close: () => watcher?.close(),
  };
}

interface Prestarted {
  held: HeldStart;
  start: number | undefined;
}

/** Supervisors started early by `up` (by its Names object), until its supervisor step takes them (or `up` fails). */
const prestarted = new WeakMap<Names, Prestarted>();

/**
 * Starts the supervisor's process at the beginning of a fresh `up`, so Node's start and the loading
 * of its modules (a few hundred ms) overlap the namespace, firewall and files rather than follow
 * them. It does nothing until `up` reaches the supervisor step and writes "go" on its stdin; when
 * the pipe closes without it (`up` failed, or was killed) it exits, having done nothing. `up` calls
 * it only for a namespace without state (a fresh one): a supervisor of an earlier run (reload,
 * restart) keeps the usual path.
 */
export function prestartSupervisor(names: Names, cfg: Config, sys: System): void {
  if (prestarted.has(names)) return;
  traceMark('supervisor spawned');
  let held: HeldStart | undefined;
  try {
    // Its own session (it survives the terminal closing), its output straight to supervisor.out.
    held = sys.startHeld(supervisorArgv(names, true), { logFile: supervisorOut(cfg), env: process.env });
  } catch (e) {
    throw logError(cfg, e);
  }
  if (!held) return;
  // Read now, before Node can reap the child: with the PID it names this process and no later one.
  prestarted.set(names, { held, start: held.pid > 0 ? identify(held.pid)?.start : undefined });
}

/** An early supervisor `up` did not use (it failed before the supervisor step): it ends now. */
export function discardPrestarted(names: Names): void {
  const p = prestarted.get(names);
  if (!p) return;
  prestarted.delete(names);
  p.held.release();
  // It has only loaded code and waits on the pipe: nothing to stop gracefully.
  if (p.held.pid > 0 && p.start !== undefined && stillRunning({ pid: p.held.pid, start: p.start })) {
    try {
      process.kill(-p.held.pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}

/** The early supervisor for this run, if it is still there, else undefined. */
function takePrestarted(ctx: Context): Prestarted | undefined {
  const p = prestarted.get(ctx.names);
  prestarted.delete(ctx.names);
  if (!p) return undefined;
  if (!p.held.exited() && p.start !== undefined && p.held.pid > 0 && stillRunning({ pid: p.held.pid, start: p.start })) return p;
  p.held.release();
  return undefined;
}

export const supervisorResource: Resource = {
  id: 'supervisor',
  title: 'supervisor (VPN client and services)',
  async check(ctx) {
    if (!(await isOurSupervisor(supervisorPid(ctx.state), ctx.names.ns, supervisorStart(ctx.state)))) return false;
    // Proxies, forwards or apps changed in the config: `up` sends the new config to the running
    // supervisor, which restarts only what changed; anything else needs a new supervisor (the kill
    // switch stays loaded meanwhile).
    return ctx.state.runtime.supervisorConfig === undefined || ctx.state.runtime.supervisorConfig === configKey(ctx.cfg);
  },
  async apply(ctx) {
    const { sys, names, cfg } = ctx;
    const argv = supervisorArgv(names, false);
    if (sys.dryRun) {
      sys.startDetached(argv, { logFile: supervisorOut(cfg) });
      return;
    }
    const live = await isOurSupervisor(supervisorPid(ctx.state), names.ns, supervisorStart(ctx.state));
    if (live && ctx.state.runtime.supervisorBase === baseKey(cfg)) {
      sys.actions.push(`reload the running supervisor (control socket)`);
      // `up` saved the new config in state.json before this; the supervisor reads it from there.
      await ask(names, 'reload', {}, ANSWER_MS * 3);
      ctx.state.runtime.supervisorConfig = configKey(cfg);
      await ctx.saveState();
      return;
    }
    // A running supervisor (the config changed beyond that) is stopped first; one that was SIGKILLed leaves its
    // children (the VPN client, proxies, forwarders) in its process group: end them before starting
    // over, so nothing runs twice or is stranded.
    await supervisorResource.remove(ctx);
    await sys.remove(statusPath(names));
    await sys.remove(privateStatusPath(names));
    sys.actions.splice(-2);
    const logDir = logDirFor(cfg);
    const pre = takePrestarted(ctx);
    let pid: number;
    if (pre) {
      pid = pre.held.pid;
      // Its start was recorded when `up` began (System.startHeld).
      sys.actions.push(`tell the supervisor started early (PID ${pid}) to go`);
    } else {
      try {
        // Its own session (it survives the terminal closing), its output straight to supervisor.out.
        traceMark('supervisor spawned');
        pid = sys.startDetached(argv, { logFile: supervisorOut(cfg), env: process.env })!;
      } catch (e) {
        sys.actions.pop();
        throw logError(cfg, e);
      }
    }
    ctx.state.runtime.supervisorPid = pid;
    // Read now, before Node can reap the child: with the PID it names this process and no later one.
    ctx.state.runtime.supervisorStart = pre ? pre.start : identify(pid)?.start;
    ctx.state.runtime.supervisorConfig = configKey(cfg);
    ctx.state.runtime.supervisorBase = baseKey(cfg);
    await ctx.saveState();
    // Recorded first: from here `down` (and a failed `up`) ends it like any supervisor.
    if (pre) {
      pre.held.go();
      traceMark('supervisor told to go');
    }
    const timeoutMs = ('connectTimeout' in cfg.vpn ? cfg.vpn.connectTimeout : 10) * 1000 + 15_000;
    const deadline = Date.now() + timeoutMs;
    // `up` returns as soon as the tunnel is up: woken by the supervisor's writes of its status
    // (renamed into the state directory), and a short poll of the small file besides.
    const wake = wakeOnChange(names.stateDir);
    try {
      for (;;) {
        const st = await readStatus(names);
        if (st?.fatal) throw new VpnnsError(st.fatal);
        const vpn = st?.components.vpn;
        if (cfg.vpn.type === 'none' ? st !== undefined : vpn?.state === 'running') {
          traceMark('up saw the supervisor connected');
          return;
        }
        if (!isAlive(pid)) throw new VpnnsError(`the vpnns supervisor exited at start; see ${logDir}/supervisor.out and ${logDir}/vpnns.log.`);
        if (Date.now() > deadline) throw new VpnnsError(`the VPN did not connect within ${Math.round(timeoutMs / 1000)} s; see ${logDir}/vpnns.log.`);
        await wake.next(10);
      }
    } finally {
      wake.close();
    }
  },
  async remove(ctx) {
    const pid = supervisorPid(ctx.state);
    if (!pid) return false;
    const start = supervisorStart(ctx.state);
    const leader: ProcId | undefined = start === undefined ? undefined : { pid, start };
    // The whole process group (the supervisor and what it started on the host side, forwarders),
    // but only while its leader is proven ours; otherwise only what the status file proves ours.
    const leaderOurs = () => isOurSupervisor(pid, ctx.names.ns, start);
    const wasAlive = await leaderOurs();
    if (ctx.sys.dryRun) {
      if (wasAlive) ctx.sys.actions.push(`$ kill -TERM -${pid}`);
      return wasAlive;
    }
    let signalled = false;
    const signal = async (sig: NodeJS.Signals) => {
      const targets = (await leaderOurs()) ? [-pid] : await strandedOf(ctx.state, ctx.names);
      for (const t of targets) {
        try {
          process.kill(t, sig);
          signalled = true;
        } catch {
          /* gone meanwhile */
        }
      }
      return targets.length > 0;
    };
    if (await signal('SIGTERM')) {
      // A stopped supervisor (SIGSTOP, a debugger) holds the SIGTERM until it runs again: let it run,
      // so it stops its services itself rather than be SIGKILLed ten seconds from now.
      await signal('SIGCONT');
      const leaderLives = () => (leader ? stillRunning(leader) : isAlive(pid));
      for (let i = 0; i < 100 && (leaderLives() || (await strandedOf(ctx.state, ctx.names)).length > 0); i++) await sleep(100);
      await signal('SIGKILL');
    }
    delete ctx.state.runtime.supervisorPid;
    delete ctx.state.runtime.supervisorStart;
    return wasAlive || signalled;
  },
};
