// What resources and commands hold: an executor (executor.ts) with `--dry-run` and a log. Every
// change is recorded in `actions` (what was done or, in dry-run, what would be done) and, unless
// dry-run, handed to the executor; reads (`query`, `readText`) run even in dry-run: they change nothing.
import { formatArgv, type RunOptions, type RunResult } from './exec.js';
import { exists, hostExecutor, readText, type Executor, type FileOptions } from './executor.js';
import type { ForegroundLaunch } from './foreground.js';
import type { ChildOptions, DetachedOptions, HeldStart, ProcessSpec, Running, StartOptions } from './process.js';
import type { ChildProcess } from './spawn.js';

export { exists, readText, type Executor, type FileOptions };

export class System {
  /** What was done (or, in dry-run, what would be done), in order. */
  readonly actions: string[] = [];

  constructor(
    readonly dryRun = false,
    readonly executor: Executor = hostExecutor,
  ) {}

  private record(line: string): void {
    this.actions.push(line);
    // A long-running supervisor records every reconnect; keep the recent past only.
    if (this.actions.length > 2000) this.actions.splice(0, 1000);
  }

  /** Read-only commands run even in dry-run: they change nothing. */
  query(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.executor.run(argv, opts);
  }

  async change(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.record(`$ ${formatArgv(argv)}${opts.input ? `  <<'EOF'\n${indent(opts.input)}EOF` : ''}`);
    if (this.dryRun) return { code: 0, stdout: '', stderr: '' };
    return this.executor.run(argv, opts);
  }

  /** `change`, synchronously: for an exit handler, where nothing async runs (the world's teardown). */
  changeSync(argv: readonly string[], opts: RunOptions = {}): RunResult {
    this.record(`$ ${formatArgv(argv)}`);
    if (this.dryRun) return { code: 0, stdout: '', stderr: '' };
    return this.executor.runSync(argv, opts);
  }

  /**
   * A program in the foreground with the terminal (`exec`, `kilo`, a browser, `adguardvpn-cli login`):
   * signals pass to it, its exit code is returned. In dry-run it is recorded, not run: 0.
   */
  foreground(launch: ForegroundLaunch, io: { err(line: string): void }): Promise<number> {
    // The environment (fd 3) is never recorded: it may hold keys.
    this.record(`$ ${formatArgv(launch.argv)}  (foreground)`);
    if (this.dryRun) return Promise.resolve(0);
    return this.executor.foreground(launch, io);
  }

  /**
   * A long-running process we hold (only a supervisor starts them, never under dry-run). In dry-run
   * nothing starts: the process returned has already exited with 0.
   */
  start(spec: ProcessSpec, opts: StartOptions = {}): Running {
    // The program's own argv: the wrappers (sandbox scripts) are long and the same every time, and
    // a supervisor records every restart.
    this.record(`start ${spec.name}${spec.netns ? ` in ${spec.netns}` : ''}: ${formatArgv(spec.argv)}`);
    if (this.dryRun) return notStarted();
    return this.executor.start(spec, opts);
  }

  /** A daemon that outlives us; its PID, or undefined in dry-run. */
  startDetached(argv: readonly string[], opts: DetachedOptions): number | undefined {
    this.record(`$ ${formatArgv(argv)} &  (detached)`);
    if (this.dryRun) return undefined;
    return this.executor.startDetached(argv, opts);
  }

  /** A detached daemon held until told to begin (`up`'s early supervisor); undefined in dry-run. */
  startHeld(argv: readonly string[], opts: DetachedOptions): HeldStart | undefined {
    this.record(`$ ${formatArgv(argv)} &  (detached, held until told to go)`);
    if (this.dryRun) return undefined;
    return this.executor.startHeld(argv, opts);
  }

  /**
   * A child whose pipes and exit the caller handles: the simulated world's daemons and captures,
   * the demo's steps. Never under dry-run (neither `vpnns demo` nor the world takes --dry-run):
   * a System in dry-run refuses.
   */
  startChild(argv: readonly string[], opts: ChildOptions): ChildProcess {
    this.record(`$ ${formatArgv(argv)} &`);
    if (this.dryRun) throw new Error(`not started under --dry-run: ${formatArgv(argv)}`);
    return this.executor.startChild(argv, opts);
  }

  async writeFile(path: string, content: string, opts: FileOptions = {}): Promise<void> {
    if (opts.kernelSetting) {
      // What `sysctl -w` would be shown as: the setting and its value.
      this.record(`set ${path} = ${content.trim()}`);
      if (this.dryRun) return;
      return this.executor.writeFile(path, content, opts);
    }
    const mode = opts.mode ?? 0o644;
    const shown = opts.secret ? `  (${content.length} bytes, secret)\n` : indent(content);
    this.record(`write ${path} (mode ${mode.toString(8)}${opts.owner ? `, owner ${opts.owner.uid}` : ''})\n${shown}`);
    if (this.dryRun) return;
    await this.executor.writeFile(path, content, opts);
  }

  async remove(path: string): Promise<void> {
    this.record(`remove ${path}`);
    if (this.dryRun) return;
    await this.executor.remove(path);
  }

  /** Creates (or keeps) a log file owned by `user:group`, never through a link (log-file.ts). */
  async createLogFileFor(path: string, user: string, group: string): Promise<void> {
    this.record(`create ${path} owned by ${user}:${group} (not through a link)`);
    if (this.dryRun) return;
    await this.executor.createLogFileFor(path, user, group);
  }

  async mkdir(path: string, mode = 0o755): Promise<void> {
    if (await this.executor.exists(path)) return;
    this.record(`mkdir ${path}`);
    if (this.dryRun) return;
    await this.executor.mkdir(path, mode);
  }

  async symlink(target: string, link: string): Promise<void> {
    this.record(`symlink ${link} -> ${target}`);
    if (this.dryRun) return;
    await this.executor.symlink(target, link);
  }

  async rename(from: string, to: string): Promise<void> {
    this.record(`rename ${from} -> ${to}`);
    if (this.dryRun) return;
    await this.executor.rename(from, to);
  }

  /**
   * Scratch space, made even in dry-run (a probe such as `code-server --version` needs a HOME);
   * `dropScratch` removes it, also in dry-run. Neither is an action: nothing of the machine's changes.
   */
  scratchDir(prefix: string): Promise<string> {
    return this.executor.tempDir(prefix);
  }

  dropScratch(path: string): Promise<void> {
    return this.executor.remove(path);
  }

  /** The text of a file (even in dry-run), undefined when it cannot be read. */
  readText(path: string): Promise<string | undefined> {
    return this.executor.readText(path);
  }

  exists(path: string): Promise<boolean> {
    return this.executor.exists(path);
  }
}

function notStarted(): Running {
  const exited = Promise.resolve({ code: 0, signal: null });
  return { pid: -1, child: undefined as never, exited, closed: exited.then(() => undefined), stop: async () => {} };
}

function indent(text: string): string {
  return text
    .split('\n')
    .filter((l, i, a) => i < a.length - 1 || l !== '')
    .map((l) => `    ${l}\n`)
    .join('');
}
