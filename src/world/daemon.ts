// Long-running processes inside a world namespace. `ip netns exec` execs the
// program in place, so the pid we get is the daemon's own pid.
import type { ChildProcess } from '../sys/spawn.js';
import { readFileSync, statSync } from 'node:fs';
import { closeFd, openForAppendSync } from '../sys/files.js';
import { sleep } from '../sys/process.js';
import { GiveUp, terminate, waitFor, worldSys } from './run.js';

/** Pids a world must kill on teardown; shared by everything that spawns. */
export class PidSet {
  readonly pids = new Set<number>();
  add(pid: number | undefined): void {
    if (pid) this.pids.add(pid);
  }
  delete(pid: number | undefined): void {
    if (pid) this.pids.delete(pid);
  }
}

export interface DaemonOptions {
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Pipe stdout instead of logging it (for a readiness line). */
  pipeStdout?: boolean;
}

export class Daemon {
  private exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess, pidSet: PidSet) {
    pidSet.add(child.pid);
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        pidSet.delete(child.pid);
        resolve(this.exitCode);
      });
    });
    // The world's exit handler cleans up; a forgotten destroy() must not keep
    // the test process alive forever.
    child.unref();
  }

  static start(ns: string, argv: readonly string[], pids: PidSet, o: DaemonOptions): Daemon {
    const fd = openForAppendSync(o.logFile, 0o600);
    try {
      const child = worldSys.startChild(['ip', 'netns', 'exec', ns, ...argv], { env: o.env ?? process.env, stdout: o.pipeStdout ? 'pipe' : fd, stderr: fd });
      if (child.stdout) (child.stdout as unknown as { unref?: () => void }).unref?.();
      if (!child.pid) throw new Error(`could not start ${argv.join(' ')}`);
      return new Daemon(child, pids);
    } finally {
      closeFd(fd);
    }
  }

  get pid(): number | undefined {
    return this.running ? this.child.pid : undefined;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  async stop(graceMs = 2000): Promise<void> {
    if (!this.running || !this.child.pid) return;
    await terminate(this.child.pid, graceMs);
    await Promise.race([this.exited, sleep(1000)]);
  }

  /** Resolves with stdout once it contains `marker`; rejects if the process exits first. */
  waitForStdout(marker: string, timeoutMs: number, what: string): Promise<void> {
    const out = this.child.stdout;
    if (!out) throw new Error('stdout is not piped');
    return new Promise((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error(`${what}: not ready after ${timeoutMs} ms`)), timeoutMs);
      const onData = (b: Buffer): void => {
        text += b.toString();
        if (text.includes(marker)) {
          clearTimeout(timer);
          out.off('data', onData);
          // Keep draining so a later write can never block the child.
          out.resume();
          resolve();
        }
      };
      out.on('data', onData);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${what} exited (code ${code}) before it was ready`));
      });
    });
  }
}

/** Current size of a log file, so a wait can look only at what follows. */
export function logSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Waits until `marker` appears in `path` after byte `from`, failing early if the daemon dies. */
export async function waitForLog(d: Daemon, path: string, from: number, marker: string | RegExp, timeoutMs: number, what: string): Promise<void> {
  await waitFor(
    what,
    () => {
      if (!d.running) throw new GiveUp(`${what}: process exited; see ${path}`);
      const text = readFileSync(path).subarray(from).toString();
      return typeof marker === 'string' ? text.includes(marker) : marker.test(text);
    },
    timeoutMs,
  );
}
