// Child processes of `vpnns demo`. Each runs in its own process group so that a Ctrl-C on the
// terminal reaches only the demo, which then decides what to stop: an interrupted step is killed,
// but the teardown's own commands must run to the end even if Ctrl-C is pressed again. They start
// through the demo's System (never a dry run: `vpnns demo` takes none).
import type { ChildProcess } from '../sys/spawn.js';
import type { System } from '../sys/system.js';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  timeoutMs: number;
  /** Kills the child (its whole group) when aborted; teardown commands pass none. */
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    /* already gone */
  }
}

/** Runs argv to completion in a new process group; a non-zero exit is a result, not an error. */
export function runIsolated(sys: System, argv: readonly string[], opts: RunOpts): Promise<Ran> {
  if (!argv[0]) throw new Error('runIsolated: empty argv');
  return new Promise((resolve) => {
    const child = sys.startChild(argv, { stdout: 'pipe', stderr: 'pipe', ownGroup: true, env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let why = '';
    const stop = (reason: string): void => {
      why = reason;
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), 1500).unref();
    };
    const timer = setTimeout(() => stop(`timed out after ${opts.timeoutMs / 1000} s`), opts.timeoutMs);
    const onAbort = (): void => stop('interrupted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    child.on('error', (e) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ code: 127, stdout, stderr: `${stderr}${e.message}` });
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr: why ? `${stderr}\n[${why}]` : stderr });
    });
  });
}

/** A long-running child in its own group (the demo's app); `stop()` kills the group. */
export function startIsolated(sys: System, argv: readonly string[], env?: NodeJS.ProcessEnv): { pid: number | undefined; output(): string; stop(): Promise<void> } {
  if (!argv[0]) throw new Error('startIsolated: empty argv');
  const child = sys.startChild(argv, { stdout: 'pipe', stderr: 'pipe', ownGroup: true, env: env ?? process.env });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  child.on('error', () => undefined);
  return {
    pid: child.pid,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killGroup(child, 'SIGTERM');
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), 1500);
      await closed;
      clearTimeout(t);
    },
  };
}
