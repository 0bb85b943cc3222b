// The executor: the narrow interface every change vpnns makes to the machine goes through (and
// every read a resource's check makes of it), and every process anything in src/ starts. `System` (system.ts) wraps one: it logs each change
// and, under `--dry-run`, records it without calling the executor. `hostExecutor` is the real
// machine; `RecordingExecutor` (recording.ts) records the calls and answers from a script, so the
// resources' check/apply/remove are unit-tested without root.
// fs.promises is read at each call, not at load: Node loads it (with readline) on first use, a few ms
// of every `vpnns exec`, which needs none of it.
import { chmodSync, chownSync, existsSync, mkdirSync, promises as fsp, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ChildProcess } from './spawn.js';
import { run, runSync, type RunOptions, type RunResult } from './exec.js';
import { spawnForeground, type ForegroundLaunch } from './foreground.js';
import { createLogFileFor, idsOf } from './log-file.js';
import {
  startChild,
  startDetached,
  startDetachedHeld,
  startProcess,
  type ChildOptions,
  type DetachedOptions,
  type HeldStart,
  type ProcessSpec,
  type Running,
  type StartOptions,
} from './process.js';

export interface FileOptions {
  mode?: number;
  /** Never print the content (keys, passwords). */
  secret?: boolean;
  /**
   * Rewrite the existing file rather than replace it: bind mounts of it (systemd BindReadOnlyPaths=
   * in running units) keep pointing at the same inode and see the new content.
   */
  inPlace?: boolean;
  /** Owner of the new file (a file only that user may read: the environment of their app). */
  owner?: { uid: number; gid: number };
  /**
   * A kernel setting under /proc/sys: written into the file that is there, as `sysctl -w` does
   * (no process started for it), never created, replaced or given a mode; a setting that does not
   * exist fails (ENOENT).
   */
  kernelSetting?: boolean;
}

export interface Executor {
  /** A command to completion (argv, never a shell). Throws CommandError on non-zero unless allowFail. */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** `run`, synchronously: for an exit handler, where nothing async runs (the world's teardown). */
  runSync(argv: readonly string[], opts?: RunOptions): RunResult;
  /** A program in the foreground (`exec`, `kilo`, a browser): the terminal, signals and its exit code pass through; its exit code. */
  foreground(launch: ForegroundLaunch, io: { err(line: string): void }): Promise<number>;
  /** A long-running process (a VPN client, a proxy, an app) we hold and stop. */
  start(spec: ProcessSpec, opts?: StartOptions): Running;
  /** A daemon in its own session that outlives us; returns its PID. */
  startDetached(argv: readonly string[], opts: DetachedOptions): number;
  /** `startDetached`, held until told to begin (`up`'s early supervisor: process.ts). */
  startHeld(argv: readonly string[], opts: DetachedOptions): HeldStart;
  /** A child whose pipes and exit the caller handles (the simulated world's daemons, the demo's steps). */
  startChild(argv: readonly string[], opts: ChildOptions): ChildProcess;
  /** Replaces PATH atomically (or in place), creating its directory. */
  writeFile(path: string, content: string, opts?: FileOptions): Promise<void>;
  /** Removes PATH (recursively); absent is fine. */
  remove(path: string): Promise<void>;
  mkdir(path: string, mode?: number): Promise<void>;
  /** A symbolic link at LINK pointing to TARGET (systemd's wants/ links); fails if LINK exists. */
  symlink(target: string, link: string): Promise<void>;
  /** Moves FROM to TO (same file system), replacing TO. */
  rename(from: string, to: string): Promise<void>;
  /** A new private directory under the temp dir (scratch: a probe's HOME, a build's TMPDIR); its path. */
  tempDir(prefix: string): Promise<string>;
  /** Creates (or keeps) a log file owned by `user:group`, never through a link (log-file.ts). */
  createLogFileFor(path: string, user: string, group: string): Promise<void>;
  /** The text of PATH, undefined when it cannot be read. */
  readText(path: string): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
}

/** This machine. */
export const hostExecutor: Executor = {
  run,
  runSync,
  foreground: spawnForeground,
  start: startProcess,
  startDetached,
  startHeld: startDetachedHeld,
  startChild,
  async writeFile(path, content, opts = {}) {
    if (opts.kernelSetting) {
      await fsp.writeFile(path, content, { flag: 'r+' });
      return;
    }
    const mode = opts.mode ?? 0o644;
    // Synchronous calls: vpnns's own small files (state, configs it renders, under /run, /etc/netns,
    // its state directory), each a few system calls. Handed one by one to Node's thread pool they
    // cost a wake-up each, ~2 ms a file while `up` shares the machine's cores with its supervisor's
    // start: 15 state saves alone were 25-35 ms of `up` on its way to the first byte.
    mkdirSync(dirname(path), { recursive: true });
    if (opts.inPlace && existsSync(path)) {
      writeFileSync(path, content, { mode, flag: 'r+' });
      truncateSync(path, Buffer.byteLength(content));
      return;
    }
    // Write then rename so a reader never sees half a file, and a secret never exists with a wider mode.
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, content, { mode });
    chmodSync(tmp, mode);
    if (opts.owner) chownSync(tmp, opts.owner.uid, opts.owner.gid);
    renameSync(tmp, path);
  },
  async remove(path) {
    await fsp.rm(path, { recursive: true, force: true });
  },
  async mkdir(path, mode = 0o755) {
    await fsp.mkdir(path, { recursive: true, mode });
  },
  async rename(from, to) {
    await fsp.rename(from, to);
  },
  async symlink(target, link) {
    await fsp.symlink(target, link);
  },
  tempDir(prefix) {
    return fsp.mkdtemp(join(tmpdir(), prefix));
  },
  async createLogFileFor(path, user, group) {
    const { uid, gid } = idsOf(user, group);
    createLogFileFor(path, uid, gid);
  },
  readText,
  exists,
};

export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function readText(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
