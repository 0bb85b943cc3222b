// Long-running processes (VPN clients, proxies, forwarders, apps). One description — a ProcessSpec —
// is what both vpnns's supervisor and the systemd units run, so the two never drift apart.
import { spawnArgv, type ChildProcess } from './spawn.js';
import type { Writable } from 'node:stream';
import { closeSync, createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs';
import { openLogFile } from './log-file.js';
import { dirname } from 'node:path';
import type { Hide } from '../sandbox/channels.js';
import { ENV_SCRIPT, PERL, RUNUSER, SANDBOX_SCRIPT, encodeEnv, hideArgs, programEnv } from '../sandbox/launch.js';
import { helperEnv } from '../sandbox/clean-env.js';
import { traceArgv } from './exec.js';
import { traceMark } from './trace.js';

export interface ProcessSpec {
  /** Component name: "vpn", "socks", "http", "forward-8080", "app-code-server". */
  name: string;
  argv: string[];
  /** Run inside this network namespace (through `ip netns exec`, which also applies /etc/netns). */
  netns?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Run as root with only this group, so the kill switch can recognise the process's sockets. */
  gid?: number;
  /** Run as this user (via runuser: HOME, USER, groups). */
  user?: string;
  /**
   * The user's program (an app): its uid/gid and the local channels to hide (src/sandbox). With a
   * user or a sandbox, `env` reaches the program only after the privilege drop (fd 3), never a root helper.
   */
  sandbox?: { uid: number; gid: number; hide: Hide[]; unset: string[] };
  /**
   * A cgroup v2 directory to run in (the VPN client's, src/vpn/client-cgroup.ts): entered first,
   * before `ip netns exec` (which mounts a sysfs without the cgroup tree), so every socket of the
   * process and its children is the cgroup's.
   */
  cgroup?: string;
}

/** The constant script that joins a cgroup and execs the rest; the cgroup.procs path is an argument. */
export const CGROUP_SCRIPT = 'echo $$ > "$1" && shift && exec "$@"';

/** Whether the spec's environment is the user's, handed over on fd 3 after the drop. */
export function envAfterDrop(spec: Pick<ProcessSpec, 'user' | 'sandbox'>): boolean {
  return spec.user !== undefined || spec.sandbox !== undefined;
}

/** The argv that actually runs, wrappers included. */
export function fullArgv(spec: ProcessSpec): string[] {
  let argv = [...spec.argv];
  if (envAfterDrop(spec)) argv = [PERL, '-e', ENV_SCRIPT, '--', 'fd:3', '--', ...argv];
  if (spec.user) argv = [RUNUSER, '-u', spec.user, '--', ...argv];
  // Also with nothing to hide: the script puts a user's program in a Landlock domain of its own.
  if (spec.sandbox && (spec.sandbox.hide.length || spec.sandbox.uid !== 0)) argv = [PERL, '-e', SANDBOX_SCRIPT, '--', String(spec.sandbox.uid), String(spec.sandbox.gid), ...hideArgs(spec.sandbox.hide), '--', ...argv];
  if (spec.gid !== undefined) argv = ['/usr/bin/setpriv', `--regid=${spec.gid}`, '--clear-groups', '--', ...argv];
  if (spec.netns) argv = ['/usr/sbin/ip', 'netns', 'exec', spec.netns, ...argv];
  if (spec.cgroup) argv = ['/bin/sh', '-c', CGROUP_SCRIPT, 'vpnns-cgroup', `${spec.cgroup}/cgroup.procs`, ...argv];
  return argv;
}

export interface Running {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Every pipe closed (its last output delivered), after `exited`. */
  readonly closed: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Append stdout and stderr here. */
  logFile?: string;
  /** Called with every output line (after it is logged), e.g. to watch for "Initialization Sequence Completed". */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Start in its own process group (so a whole tree can be signalled). */
  detached?: boolean;
}

export function startProcess(spec: ProcessSpec, opts: StartOptions = {}): Running {
  const [cmd, ...args] = fullArgv(spec);
  let log: WriteStream | undefined;
  if (opts.logFile) {
    mkdirSync(dirname(opts.logFile), { recursive: true });
    // Never through a link planted in the log directory (log-file.ts); a log that cannot be opened
    // or written (disk full, directory removed) loses lines, never the supervisor.
    try {
      log = createWriteStream(opts.logFile, { fd: openLogFile(opts.logFile), autoClose: true });
      log.on('error', () => {});
    } catch {
      log = undefined;
    }
  }
  const viaFd = envAfterDrop(spec);
  traceMark(`start ${spec.name}: ${traceArgv(spec.argv)}`);
  const child = spawnArgv([cmd!, ...args], {
    // Root helpers and daemons: a clean environment (clean-env.ts), plus vpnns's own values for daemons.
    env: viaFd ? helperEnv() : { ...helperEnv(), ...spec.env },
    cwd: spec.cwd,
    stdio: viaFd ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  if (viaFd) {
    const user = { name: spec.user ?? 'root', uid: spec.user ? (spec.sandbox?.uid ?? -1) : 0, gid: 0 };
    const pipe = child.stdio[3] as Writable | null;
    pipe?.on('error', () => {});
    pipe?.end(encodeEnv(programEnv(process.env, spec.env ?? {}, spec.sandbox?.unset ?? [], user)));
  }
  for (const [stream, which] of [[child.stdout, 'stdout'], [child.stderr, 'stderr']] as const) {
    let buf = '';
    stream?.setEncoding('utf8').on('data', (d: string) => {
      if (log && !log.writableEnded) log.write(d);
      if (!opts.onLine) return;
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        opts.onLine(buf.slice(0, i), which);
        buf = buf.slice(i + 1);
      }
      // A busy-looping client (OpenVPN without its tun) must not grow this buffer forever.
      if (buf.length > 65536) buf = buf.slice(-4096);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      if (log && !log.writableEnded) log.end(`vpnns: could not start ${cmd}: ${err.message}\n`);
      resolve({ code: 127, signal: null });
    });
    // 'exit' can come before the last output (a client printing its shutdown, or a child that
    // inherited the pipes); the log ends only when every pipe is closed, or a late line would be a
    // write after end, which takes the whole process down.
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.on('close', () => {
      if (log && !log.writableEnded) log.end();
    });
  });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const running: Running = {
    pid: child.pid ?? -1,
    child,
    exited,
    closed,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return running;
}

export interface DetachedOptions {
  /** stdout and stderr go here (appended, never through a link: log-file.ts). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * A daemon in its own session that outlives us (`vpnns supervise` started by `up`): nothing of ours
 * holds it, its output goes straight to its log. Throws when the log cannot be opened, before
 * anything starts. Returns its PID.
 */
export function startDetached(argv: readonly string[], opts: DetachedOptions): number {
  return spawnDetached(argv, opts, 'ignore').pid ?? -1;
}

/** Its own session, its output straight to the log (opened never through a link), unref'd; stdin as asked. */
function spawnDetached(argv: readonly string[], opts: DetachedOptions, stdin: 'ignore' | 'pipe'): ChildProcess {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const out = openLogFile(opts.logFile);
  try {
    const child = spawnArgv(argv, { detached: true, stdio: [stdin, out, out], env: opts.env ?? process.env });
    child.on('error', () => {});
    child.unref();
    return child;
  } finally {
    closeSync(out);
  }
}

export interface ChildOptions {
  /** The child's whole environment (the world's programs and the demo's steps get the caller's). */
  env: NodeJS.ProcessEnv;
  /** Where its output goes: a pipe the caller reads, an open file descriptor (a log), or nowhere. Its stdin is /dev/null. */
  stdout: 'pipe' | 'ignore' | number;
  stderr: 'pipe' | 'ignore' | number;
  /** Its own process group, so the caller can signal the whole tree (`process.kill(-pid)`). */
  ownGroup?: boolean;
}

/**
 * A child whose pipes and exit the caller handles itself: the simulated world's daemons and packet
 * captures, the demo's steps. Not a vpnns change (those go through `start`, `startDetached`, `run`).
 */
export function startChild(argv: readonly string[], opts: ChildOptions): ChildProcess {
  return spawnArgv(argv, { env: opts.env, stdio: ['ignore', opts.stdout, opts.stderr], detached: opts.ownGroup ?? false });
}

/** A detached start (as startDetached) that waits for the word to begin: `go()` writes it to its stdin. */
export interface HeldStart {
  pid: number;
  /** Tells it to begin (writes "go" and closes its stdin). */
  go(): void;
  /** Closes its stdin without the word: a held process exits having done nothing. */
  release(): void;
  /** Whether the child has exited (as this process saw it). */
  exited(): boolean;
}

/**
 * `up` starts its supervisor early, so Node's start overlaps the namespace, firewall and files
 * (supervisor/resource.ts prestartSupervisor): the same detached start, with its stdin a pipe the
 * supervisor reads "go" from. Only a fresh `up` (never a dry run) uses it, through System
 * (`startHeld`); the supervisor resource waits for it like any other start.
 */
export function startDetachedHeld(argv: readonly string[], opts: DetachedOptions): HeldStart {
  const child = spawnDetached(argv, opts, 'pipe');
  child.stdin?.on('error', () => {});
  return {
    pid: child.pid ?? -1,
    go: () => child.stdin?.end('go\n'),
    release: () => child.stdin?.destroy(),
    exited: () => child.exitCode !== null || child.signalCode !== null,
  };
}

/**
 * Is there a live process with this PID? A zombie is not: an orphan whose init does not reap it
 * (containers, some sandboxes) stays a zombie, and kill(pid, 0) still succeeds on it.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // The state is the field after the parenthesised command name (which may contain spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The one sleep of vpnns: waits `ms`, or less when `signal` aborts (it resolves then, it does not
 * throw), and leaves no timer or listener behind. The supervisor's sleepUnless (supervisor/abort.ts)
 * is the same wait that also says whether it was cut short.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs `run` with a signal that aborts on SIGINT or SIGTERM (Ctrl-C, or whoever runs us); the handlers go when it ends. */
export async function untilInterrupted<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stopping = new AbortController();
  const stop = () => stopping.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await run(stopping.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
