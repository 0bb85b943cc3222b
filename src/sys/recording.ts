// A fake executor for unit tests: records every call in order and answers from a script, so a
// resource's check/apply/remove can be tested without root and without touching the machine.
// Files live in a map (what `writeFile` wrote, `remove` took away, `readText` reads back), so
// apply-then-check converges as it would on the host.
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { CommandError, formatArgv, type RunOptions, type RunResult } from './exec.js';
import type { Executor, FileOptions } from './executor.js';
import type { ForegroundLaunch } from './foreground.js';
import { fullArgv, type ChildOptions, type DetachedOptions, type HeldStart, type ProcessSpec, type Running, type StartOptions } from './process.js';
import type { ChildProcess } from './spawn.js';

export type Call =
  | { kind: 'run'; argv: string[]; input?: string }
  | { kind: 'start'; name: string; argv: string[] }
  | { kind: 'startDetached'; argv: string[]; logFile: string }
  | { kind: 'startHeld'; argv: string[]; logFile: string }
  | { kind: 'startChild'; argv: string[]; ownGroup: boolean }
  | { kind: 'foreground'; argv: string[]; payload: boolean }
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
  /** What startDetached returns (and a held start's PID). */
  detachedPid = 4_000_000;
  /** What a program in the foreground exits with. */
  foregroundCode = 0;
  /** Held starts, in order: whether each was told to go or released. */
  readonly held: FakeHeld[] = [];
  /** Children started (startChild), in order. */
  readonly children: FakeChild[] = [];
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
        case 'startHeld':
          return [`held ${formatArgv(c.argv)} > ${c.logFile}`];
        case 'startChild':
          return [`child ${formatArgv(c.argv)}`];
        case 'foreground':
          return [`foreground ${formatArgv(c.argv)}`];
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
    return this.runSync(argv, opts);
  }

  runSync(argv: readonly string[], opts: RunOptions = {}): RunResult {
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

  startHeld(argv: readonly string[], opts: DetachedOptions): HeldStart {
    this.calls.push({ kind: 'startHeld', argv: [...argv], logFile: opts.logFile });
    const h = new FakeHeld(this.detachedPid);
    this.held.push(h);
    return h;
  }

  startChild(argv: readonly string[], opts: ChildOptions): ChildProcess {
    this.calls.push({ kind: 'startChild', argv: [...argv], ownGroup: opts.ownGroup ?? false });
    const c = new FakeChild(this.nextPid++, opts);
    this.children.push(c);
    return c as unknown as ChildProcess;
  }

  async foreground(launch: ForegroundLaunch, _io: { err(line: string): void }): Promise<number> {
    this.calls.push({ kind: 'foreground', argv: [...launch.argv], payload: launch.payload !== undefined });
    return this.foregroundCode;
  }

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

/** A held start: records whether it was told to go or released. */
export class FakeHeld implements HeldStart {
  word: 'go' | 'released' | undefined;
  ended = false;

  constructor(readonly pid: number) {}

  go(): void {
    this.word ??= 'go';
  }

  release(): void {
    this.word ??= 'released';
  }

  exited(): boolean {
    return this.ended;
  }
}

/** A child (startChild) that runs until killed or `exit` is called; its piped output is what `emit` writes. */
export class FakeChild extends EventEmitter {
  readonly stdout: PassThrough | null;
  readonly stderr: PassThrough | null;
  readonly stdin = null;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** The signals it was sent. */
  readonly signals: NodeJS.Signals[] = [];

  constructor(
    readonly pid: number,
    opts: ChildOptions,
  ) {
    super();
    this.stdout = opts.stdout === 'pipe' ? new PassThrough() : null;
    this.stderr = opts.stderr === 'pipe' ? new PassThrough() : null;
  }

  /** Writes to its stdout or stderr (piped). */
  write(stream: 'stdout' | 'stderr', text: string): void {
    this[stream]?.write(text);
  }

  kill(sig: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(sig);
    if (this.exitCode === null && this.signalCode === null) this.exit(null, sig);
    return true;
  }

  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.exitCode = code;
    this.signalCode = signal;
    this.stdout?.end();
    this.stderr?.end();
    this.emit('exit', code, signal);
    setImmediate(() => this.emit('close', code, signal));
  }

  unref(): void {}
  ref(): void {}
}
