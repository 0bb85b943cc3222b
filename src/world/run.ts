// Process helpers for the test world. Every command is an argv array; nothing
// here builds shell strings. The world's own semantics (a non-zero exit is a result, the caller's
// environment) are kept here; every process goes through the world's own System (src/sys), never
// a dry run.
import { readFileSync } from 'node:fs';
import { sleep } from '../sys/process.js';
import { System } from '../sys/system.js';

/** The world's System: real, never a dry run; every process the world starts goes through it. */
export const worldSys = new System(false);

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
  cwd?: string;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(readonly argv: readonly string[], readonly result: RunResult) {
    const detail = (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n');
    super(`command failed (exit ${result.code}): ${argv.join(' ')}${detail ? `\n${detail}` : ''}`);
  }
}

/** Runs argv to completion; never throws for a non-zero exit (see runOk). */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  if (!argv[0]) throw new Error('run: empty argv');
  return worldSys.change(argv, { env: opts.env ?? process.env, cwd: opts.cwd, input: opts.input, timeoutMs: opts.timeoutMs, allowFail: true });
}

/** Runs argv and throws CommandError on a non-zero exit. */
export async function runOk(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new CommandError(argv, r);
  return r;
}

/** Synchronous, best-effort variant for exit handlers, where nothing async runs. */
export function runSyncQuiet(argv: readonly string[], input?: string): string {
  if (!argv[0]) return '';
  try {
    const r = worldSys.changeSync(argv, { env: process.env, input, timeoutMs: 5000, allowFail: true });
    return r.code === 0 ? r.stdout : '';
  } catch {
    return '';
  }
}

/** Thrown from a waitFor check to stop waiting at once (e.g. the daemon died). */
export class GiveUp extends Error {}

/** Polls until check() returns a truthy value; throws with `what` after timeoutMs. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 5000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGTERM, then SIGKILL if the process is still there after graceMs. */
export async function terminate(pid: number, graceMs = 2000): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && !isZombieOrGone(pid) && Date.now() < deadline) await sleep(20);
  if (isAlive(pid) && !isZombieOrGone(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Our own children linger as zombies until Node reaps them; treat that as gone. */
function isZombieOrGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
