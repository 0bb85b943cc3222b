// A throwaway network-namespace fixture for benchmarks: namespaces with a unique prefix, veth
// links between them, commands run inside, and cleanup that happens even when the benchmark
// throws or is interrupted. Nothing here touches the root namespace's links, routes or firewall.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every namespace a benchmark makes is named `${STALE_PREFIX}<creator pid>-...`, so leftovers of a killed run can be found and removed. */
const STALE_PREFIX = 'vnb';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Resolve with a non-zero exit instead of throwing. */
  allowFail?: boolean;
  input?: string;
}

export interface Background {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `re` (or rejects after `timeoutMs`). */
  waitForLine(re: RegExp, timeoutMs: number): Promise<string>;
  exited(): Promise<number>;
  /** SIGTERM to the process group, SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface VethLink {
  a: { ns: string; dev: string; addr: string };
  b: { ns: string; dev: string; addr: string };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

function killAllIn(ns: string): void {
  let pids: number[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function deleteNamespace(ns: string): void {
  killAllIn(ns);
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Removes namespaces left by benchmark runs whose process no longer exists. */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  const re = new RegExp(`^${STALE_PREFIX}(\\d+)-`);
  for (const ns of listNamespaces()) {
    const m = re.exec(ns);
    if (m && !isAlive(Number(m[1]))) {
      deleteNamespace(ns);
      removed.push(ns);
    }
  }
  return removed;
}

const liveWorlds = new Set<NetnsWorld>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  // 'exit' handlers must be synchronous: kill by pid and delete namespaces with execFileSync.
  process.on('exit', () => {
    for (const w of liveWorlds) w.disposeSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const w of liveWorlds) w.disposeSync();
      process.exit(130);
    });
  }
}

/**
 * A set of namespaces owned by this process. Use with `await using`, or call `dispose()` in a
 * `finally`; an exit/signal hook disposes whatever is left.
 */
export class NetnsWorld implements AsyncDisposable {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly processes = new Set<Background>();
  private disposed = false;

  constructor(tag = 'x') {
    installExitHooks();
    const rand = Math.floor(Math.random() * 0xfff).toString(16);
    this.prefix = `${STALE_PREFIX}${process.pid}-${tag}${rand}`;
    liveWorlds.add(this);
  }

  /** Creates `${prefix}-${name}` with loopback up, returns its full name. */
  async addNamespace(name: string): Promise<string> {
    const ns = `${this.prefix}-${name}`;
    execFileSync('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await this.run(ns, ['ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * Joins two of this world's namespaces with a veth pair. Both ends are created inside
   * namespace `a` and one is moved to `b`, so no link ever appears in the root namespace.
   * `addrA`/`addrB` are CIDR (e.g. 10.0.0.1/24).
   */
  async linkVeth(a: string, addrA: string, b: string, addrB: string, opts: { mtu?: number } = {}): Promise<VethLink> {
    this.assertOwned(a);
    this.assertOwned(b);
    const idx = this.namespaces.indexOf(b);
    const devA = `vb${idx}a${process.pid % 10000}`.slice(0, 15);
    const devB = `vb${idx}b${process.pid % 10000}`.slice(0, 15);
    await this.run(a, ['ip', 'link', 'add', devA, 'type', 'veth', 'peer', 'name', devB]);
    await this.run(a, ['ip', 'link', 'set', devB, 'netns', b]);
    for (const [ns, dev, addr] of [
      [a, devA, addrA],
      [b, devB, addrB],
    ] as const) {
      await this.run(ns, ['ip', 'addr', 'add', addr, 'dev', dev]);
      if (opts.mtu) await this.run(ns, ['ip', 'link', 'set', dev, 'mtu', String(opts.mtu)]);
      await this.run(ns, ['ip', 'link', 'set', dev, 'up']);
    }
    const strip = (cidr: string) => cidr.split('/')[0] ?? cidr;
    return { a: { ns: a, dev: devA, addr: strip(addrA) }, b: { ns: b, dev: devB, addr: strip(addrB) } };
  }

  /** Runs a command to completion inside `ns` (argv, no shell). */
  run(ns: string, argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    this.assertOwned(ns);
    return new Promise((resolve, reject) => {
      const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      if (child.stdin) {
        // A command that exits before reading its input must fail through its exit code, not EPIPE.
        child.stdin.on('error', () => undefined);
        child.stdin.end(opts.input);
      }
      const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
      child.on('error', reject);
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        const r = { code: code ?? (signal ? 128 : 1), stdout, stderr };
        if (r.code !== 0 && !opts.allowFail) {
          reject(new Error(`in ${ns}: ${argv.join(' ')} exited ${r.code}${signal ? ` (${signal})` : ''}: ${stderr.trim()}`));
        } else resolve(r);
      });
    });
  }

  /** Starts a long-running command inside `ns` in its own process group; stopped on dispose. */
  start(ns: string, argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Background {
    this.assertOwned(ns);
    // `ip netns exec` execs the command, so the pid is the command's and its group is ours to kill.
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: opts.env ?? process.env,
    });
    if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
    const pid = child.pid;
    let out = '';
    let err = '';
    const lineWaiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      for (const w of [...lineWaiters]) {
        const line = out.split('\n').find((l) => w.re.test(l));
        if (line !== undefined) {
          lineWaiters.splice(lineWaiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exit = new Promise<number>((resolve) => child.on('close', (code, sig) => resolve(code ?? (sig ? 128 : 1))));
    let done = false;
    void exit.then(() => (done = true));
    const bg: Background = {
      pid,
      child,
      stdout: () => out,
      stderr: () => err,
      waitForLine: (re, timeoutMs) =>
        new Promise((resolve, reject) => {
          const line = out.split('\n').find((l) => re.test(l));
          if (line !== undefined) return resolve(line);
          const timer = setTimeout(() => reject(new Error(`${argv[0]}: no line matching ${re} within ${timeoutMs} ms; stderr: ${err.trim()}`)), timeoutMs);
          lineWaiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
          void exit.then((code) => reject(new Error(`${argv.join(' ')} exited ${code} before printing ${re}; stderr: ${err.trim()}`)));
        }),
      exited: () => exit,
      stop: async (graceMs = 1000) => {
        this.processes.delete(bg);
        if (done) return;
        try {
          process.kill(-pid, 'SIGTERM');
        } catch {
          return;
        }
        const t = setTimeout(() => {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // gone
          }
        }, graceMs);
        await exit;
        clearTimeout(t);
      },
    };
    this.processes.add(bg);
    return bg;
  }

  /** Polls until something listens on TCP `port` inside `ns`. */
  async waitListening(ns: string, port: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = await this.run(ns, ['ss', '-Hltn', `sport = :${port}`], { allowFail: true });
      if (r.stdout.trim()) return;
      await sleep(50);
    }
    throw new Error(`nothing listens on port ${port} in ${ns} after ${timeoutMs} ms`);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await Promise.all([...this.processes].map((p) => p.stop(500)));
    this.disposeSync();
  }

  disposeSync(): void {
    if (this.disposed) return;
    this.disposed = true;
    liveWorlds.delete(this);
    for (const p of this.processes) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    this.processes.clear();
    // Deleting a namespace also deletes the veth pairs inside it.
    for (const ns of [...this.namespaces].reverse()) deleteNamespace(ns);
    this.namespaces.length = 0;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private assertOwned(ns: string): void {
    if (!this.namespaces.includes(ns)) throw new Error(`namespace ${ns} does not belong to this benchmark world`);
  }
}

/** The common shape: a "host" and a "vpn" namespace joined by veth (default 10.0.0.1/24 <-> 10.0.0.2/24). */
export async function hostVpnPair(
  tag: string,
  opts: { hostAddr?: string; vpnAddr?: string; mtu?: number } = {},
): Promise<{ world: NetnsWorld; host: string; vpn: string; link: VethLink }> {
  const world = new NetnsWorld(tag);
  try {
    const host = await world.addNamespace('host');
    const vpn = await world.addNamespace('vpn');
    const link = await world.linkVeth(host, opts.hostAddr ?? '10.0.0.1/24', vpn, opts.vpnAddr ?? '10.0.0.2/24', opts);
    return { world, host, vpn, link };
  } catch (err) {
    await world.dispose();
    throw err;
  }
}

/** CPU seconds (user+system, reaped children included) summed over every process in the group `pgid`. */
export function groupCpuSeconds(pgid: number): number {
  const ticks = 100; // USER_HZ is 100 on every Linux architecture Node runs on.
  let total = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) !== pgid) continue;
      // utime stime cutime cstime are fields 14-17 of stat, i.e. rest[11..14].
      total += [11, 12, 13, 14].reduce((sum, i) => sum + Number(rest[i] ?? 0), 0) / ticks;
    } catch {
      // exited while we looked
    }
  }
  return total;
}

/** Pss and Rss (KiB) summed over every process in the group `pgid` (a forked server's children included). */
export function groupMemoryKiB(pgid: number): { processes: number; rssKiB: number; pssKiB: number } {
  let processes = 0;
  let rssKiB = 0;
  let pssKiB = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised comm: state ppid pgrp ...
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) !== pgid) continue;
      const rollup = fs.readFileSync(`/proc/${entry}/smaps_rollup`, 'utf8');
      rssKiB += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      pssKiB += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      processes++;
    } catch {
      // exited while we looked
    }
  }
  return { processes, rssKiB, pssKiB };
}
