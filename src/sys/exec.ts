// The only place that spawns short-lived commands. Always an argv array, never a shell string.
import { spawnArgv, spawnArgvSync } from './spawn.js';
import { VpnnsError } from '../errors.js';
import { commandEnv } from '../sandbox/clean-env.js';
import { clock, traceSince, tracing } from './trace.js';

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing. */
  allowFail?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends VpnnsError {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    const detail = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' / ');
    super(`command failed (exit ${result.code}): ${formatArgv(argv)}${detail ? `: ${detail}` : ''}`);
    this.name = 'CommandError';
  }
}

export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const cmd = argv[0];
  if (!cmd) throw new Error('run: empty argv');
  const start = tracing() ? clock() : 0;
  return new Promise((resolve, reject) => {
    const child = spawnArgv(argv, {
      // Root runs these: never with a loader or interpreter variable of whoever started vpnns, and
      // `ip` is looked up in the system directories, not in a PATH that may hold `.` (spawn searches the child's PATH).
      env: opts.env ?? commandEnv(),
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          stderr += `\n(timed out after ${opts.timeoutMs} ms)`;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : undefined;
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (err.code === 'ENOENT') {
        const r = { code: 127, stdout, stderr: `${cmd}: not found` };
        if (opts.allowFail) resolve(r);
        else reject(new CommandError(argv, r));
      } else reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (start) traceSince(`run ${traceArgv(argv)}`, start);
      const r = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      if (r.code !== 0 && !opts.allowFail) reject(new CommandError(argv, r));
      else resolve(r);
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(opts.input ?? '');
  });
}

/**
 * `run`, synchronously: for an exit handler, where nothing async runs any more (the world's
 * teardown). The same options and errors; stderr is kept, a timeout kills with SIGKILL.
 */
export function runSync(argv: readonly string[], opts: RunOptions = {}): RunResult {
  const cmd = argv[0];
  if (!cmd) throw new Error('runSync: empty argv');
  const r = spawnArgvSync(argv, {
    env: opts.env ?? commandEnv(),
    cwd: opts.cwd,
    input: opts.input ?? '',
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
  });
  const err = r.error as NodeJS.ErrnoException | undefined;
  let res: RunResult;
  if (err?.code === 'ENOENT') res = { code: 127, stdout: '', stderr: `${cmd}: not found` };
  else if (err?.code === 'ETIMEDOUT') res = { code: 128, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}\n(timed out after ${opts.timeoutMs} ms)` };
  else if (err) throw err;
  else res = { code: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout, stderr: r.stderr };
  if (res.code !== 0 && !opts.allowFail) throw new CommandError(argv, res);
  return res;
}

/** The command for a trace line: the program and its first words (never a file's content). */
export function traceArgv(argv: readonly string[]): string {
  return argv.slice(0, 6).map((a) => a.replace(/^.*\//, '')).join(' ');
}

/** Quote for display only (dry-run output, logs); never passed to a shell. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}
