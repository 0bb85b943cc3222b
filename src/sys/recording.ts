// A fake executor for unit tests: records every call in order and answers from a script, so a
// resource's check/apply/remove can be tested without root and without touching the machine.
// Files live in a map (what `writeFile` wrote, `remove` took away, `readText` reads back), so
// apply-then-check converges as it would on the host.
import { EventEmitter } from 'node:events';
import { CommandError, formatArgv, type RunOptions, type RunResult } from './exec.js';
import type { Executor, FileOptions } from './executor.js';
import { fullArgv, type DetachedOptions, type ProcessSpec, type Running, type StartOptions } from './process.js';

export type Call =
  | { kind: 'run'; argv: string[]; input?: string }
  | { kind: 'start'; name: string; argv: string[] }
  | { kind: 'startDetached'; argv: string[]; logFile: string }
  | { kind: 'write'; path: string; content: string; mode: number; inPlace: boolean }
  | { kind: 'remove'; path: string }
  | { kind: 'mkdir'; path: string; mode: number }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'symlink'; target: string; link: string }
  | { kind: 'createLog'; path: string; owner: string };

type Answer = Partial<RunResult> | ((argv: readonly string[], opts: RunOptions) => Partial<RunResult>);

interface Rule {
  match: (argv: readonly string[]) => boolean;
  answer: Answer;
  /** How many more times it answers (Infinity: always). */
  left: number;
}

export class RecordingExecutor implements Executor {
  readonly calls: Call[] = [];
  readonly files = new Map<string, string>();
  readonly dirs = new Set<string>();
  /** What startDetached returns. */
  detachedPid = 4_000_000;
  private rules: Rule[] = [];
  private nextPid = 5_000_000;
  /** Processes started and not stopped, by name. */
  readonly running = new Map<string, FakeRunning>();

  /**
   * Answers every command that starts with `prefix` (or that `prefix` accepts); later rules win.
   * `times` limits how often (then earlier rules answer again): a state that changes between calls.
   */
  on(prefix: readonly string[] | ((argv: readonly string[]) => boolean), answer: Answer, times = Infinity): this {
    const match = typeof prefix === 'function' ? prefix : (argv: readonly string[]) => prefix.every((p, i) => argv[i] === p);
    this.rules.unshift({ match, answer, left: times });
    return this;
  }

  /** The commands run, each as it would be printed. */
  commands(): string[] {
    return this.calls.flatMap((c) => (c.kind === 'run' ? [formatArgv(c.argv)] : []));
  }

  /** Everything but reads: commands, starts, writes, removals, as lines. */
  changes(isRead: (argv: readonly string[]) => boolean = () => false): string[] {
    return this.calls.flatMap((c) => {
      switch (c.kind) {
        case 'run':
          return isRead(c.argv) ? [] : [`$ ${formatArgv(c.argv)}`];
        case 'start':
          return [`start ${c.name}: ${formatArgv(c.argv)}`];
        case 'startDetached':
          return [`detached ${formatArgv(c.argv)} > ${c.logFile}`];
        case 'write':
          return [`write ${c.path}`];
        case 'remove':
          return [`remove ${c.path}`];
        case 'mkdir':
          return [`mkdir ${c.path}`];
        case 'rename':
          return [`rename ${c.from} -> ${c.to}`];
        case 'symlink':
          return [`symlink ${c.link} -> ${c.target}`];
        case 'createLog':
          return [`log ${c.path} ${c.owner}`];
      }
    });
  }

  clear(): void {
    this.calls.length = 0;
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ kind: 'run', argv: [...argv], ...(opts.input !== undefined ? { input: opts.input } : {}) });
    const rule = this.rules.find((r) => r.left > 0 && r.match(argv));
    if (rule) rule.left--;
    const a = rule ? (typeof rule.answer === 'function' ? rule.answer(argv, opts) : rule.answer) : {};
    const r: RunResult = { code: a.code ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
    if (r.code !== 0 && !opts.allowFail) throw new CommandError(argv, r);
    return r;
  }

  start(spec: ProcessSpec, _opts: StartOptions = {}): Running {
    this.calls.push({ kind: 'start', name: spec.name, argv: fullArgv(spec) });
    const p = new FakeRunning(this.nextPid++, () => this.running.delete(spec.name));
    this.running.set(spec.name, p);
    return p;
  }

  startDetached(argv: readonly string[], opts: DetachedOptions): number {
    this.calls.push({ kind: 'startDetached', argv: [...argv], logFile: opts.logFile });
    return this.detachedPid;
  }

  /** Writes that fail, by path (a kernel setting that does not exist: ENOENT). */
  readonly failingWrites = new Map<string, Error>();

  async writeFile(path: string, content: string, opts: FileOptions = {}): Promise<void> {
    this.calls.push({ kind: 'write', path, content, mode: opts.mode ?? 0o644, inPlace: opts.inPlace ?? false });
    const fail = this.failingWrites.get(path);
    if (fail) throw fail;
    this.files.set(path, content);
  }

  async remove(path: string): Promise<void> {
    if (!this.scratch.delete(path)) this.calls.push({ kind: 'remove', path });
    for (const k of [...this.files.keys()]) if (k === path || k.startsWith(`${path}/`)) this.files.delete(k);
    for (const d of [...this.dirs]) if (d === path || d.startsWith(`${path}/`)) this.dirs.delete(d);
  }

  async mkdir(path: string, mode = 0o755): Promise<void> {
    this.calls.push({ kind: 'mkdir', path, mode });
    this.dirs.add(path);
  }

  async rename(from: string, to: string): Promise<void> {
    this.calls.push({ kind: 'rename', from, to });
    for (const [k, v] of [...this.files]) {
      if (k !== from && !k.startsWith(`${from}/`)) continue;
      this.files.delete(k);
      this.files.set(to + k.slice(from.length), v);
    }
    if (this.dirs.delete(from)) this.dirs.add(to);
  }

  async symlink(target: string, link: string): Promise<void> {
    this.calls.push({ kind: 'symlink', target, link });
    this.files.set(link, `-> ${target}`);
  }

  private temps = 0;
  private scratch = new Set<string>();

  /** Scratch directories are not calls: they change nothing that matters. */
  async tempDir(prefix: string): Promise<string> {
    const p = `/tmp/${prefix}fake${this.temps++}`;
    this.dirs.add(p);
    this.scratch.add(p);
    return p;
  }

  async createLogFileFor(path: string, user: string, group: string): Promise<void> {
    this.calls.push({ kind: 'createLog', path, owner: `${user}:${group}` });
    if (!this.files.has(path)) this.files.set(path, '');
  }

  async readText(path: string): Promise<string | undefined> {
    return this.files.get(path);
  }

  async exists(path: string): Promise<boolean> {
    if (this.files.has(path) || this.dirs.has(path)) return true;
    return [...this.files.keys(), ...this.dirs].some((k) => k.startsWith(`${path}/`));
  }
}

/** A started process that runs until stopped (or `exit` is called). */
export class FakeRunning implements Running {
  readonly child = new EventEmitter() as unknown as Running['child'];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly closed: Promise<void>;
  private resolveExit!: (r: { code: number | null; signal: NodeJS.Signals | null }) => void;
  stopped = false;

  constructor(
    readonly pid: number,
    private readonly onEnd: () => void,
  ) {
    this.exited = new Promise((r) => (this.resolveExit = r));
    this.closed = this.exited.then(() => undefined);
  }

  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.onEnd();
    this.resolveExit({ code, signal });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.exit(null, 'SIGTERM');
  }
}
