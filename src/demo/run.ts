// `vpnns demo` from start to end: the steps against a DemoSession, shown as progress lines, and a
// teardown that always runs (signals are held until it is over).
import { DemoSession, Interrupted, StepFailed, APP_HOST_PORT, type Step } from './session.js';

/** Where the demo prints (cli/command.ts's Io fits it). */
export interface DemoIo {
  out(line?: string): void;
  err(line: string): void;
  isTTY: boolean;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Progress lines: on a terminal the label shows while the step runs; in a pipe, whole lines only. */
class Progress {
  private open = '';
  /** The running step's half line was ended by another message: reprint it whole at the end. */
  private broken = false;
  constructor(private readonly io: DemoIo) {}
  begin(label: string): void {
    this.open = `${label}... `;
    this.broken = false;
    if (this.io.isTTY) process.stdout.write(this.open);
  }
  end(result: string): void {
    if (this.io.isTTY && !this.broken) process.stdout.write(`${result}\n`);
    else this.io.out(`${this.open}${result}`);
    this.open = '';
  }
  /** Ends a half-written line before something else is printed. */
  interrupt(): void {
    if (this.open && this.io.isTTY && !this.broken) process.stdout.write('\n');
    this.broken = true;
  }
  details(lines: string[]): void {
    for (const l of lines) this.io.out(`      ${l}`);
  }
}

/** Runs the demo's steps, then removes everything; the exit code (0, 1 with the failing step named, 128+signal). */
export async function runDemo(io: DemoIo): Promise<number> {
  const started = Date.now();
  const abort = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const progress = new Progress(io);
  const onSignal = (sig: NodeJS.Signals): void => {
    if (caught) {
      progress.interrupt();
      io.err('vpnns demo: still removing everything; please wait (this takes a few seconds).');
      return;
    }
    caught = sig;
    progress.interrupt();
    io.err(`vpnns demo: ${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping and removing everything (pressing Ctrl-C again will not skip this).`);
    abort.abort();
  };
  // Listeners stay installed until the teardown is over, so no signal can end the process early.
  for (const s of SIGNALS) process.on(s, onSignal);

  const session = new DemoSession(abort.signal);
  const steps: Step[] = [
    { label: `building a simulated internet (namespaces ${session.prefix}-*)`, run: () => session.buildWorld() },
    { label: 'starting vpnns with WireGuard (vpnns up)', run: () => session.up() },
    { label: 'asking an echo service who we are, from the host and from inside', run: () => session.compare() },
    { label: 'proving nothing leaks (vpnns check)', run: () => session.checkCmd() },
    { label: 'using the proxies from the host', run: () => session.proxies() },
    { label: `publishing an app from inside on 127.0.0.1:${APP_HOST_PORT}`, run: () => session.publish() },
  ];
  const total = steps.length + 1;
  io.out(`vpnns demo: vpnns against a simulated internet made of network namespaces, removed at the end. Ctrl-C stops and cleans up.`);
  io.out('');

  let failure: { n: number; label: string; message: string } | undefined;
  for (const [i, step] of steps.entries()) {
    if (abort.signal.aborted) break;
    const t0 = Date.now();
    const label = `[${i + 1}/${total}] ${step.label}`;
    progress.begin(label);
    try {
      const lines = await step.run();
      progress.end(`done in ${secs(Date.now() - t0)}`);
      progress.details(lines);
    } catch (e) {
      if (abort.signal.aborted || e instanceof Interrupted) {
        progress.end('interrupted');
        break;
      }
      progress.end(`FAILED after ${secs(Date.now() - t0)}`);
      const message = e instanceof StepFailed ? e.message : ((e as Error).stack ?? String(e));
      progress.details(message.split('\n'));
      failure = { n: i + 1, label: step.label, message: message.split('\n')[0] ?? '' };
      break;
    }
  }

  const t0 = Date.now();
  progress.begin(`[${total}/${total}] removing everything (vpnns down, then the simulated internet)`);
  let teardownError: string | undefined;
  try {
    const lines = await session.teardown(failure !== undefined);
    progress.end(`done in ${secs(Date.now() - t0)}`);
    progress.details(lines);
  } catch (e) {
    progress.end('FAILED');
    teardownError = e instanceof StepFailed ? e.message : ((e as Error).stack ?? String(e));
    progress.details(teardownError.split('\n'));
  }
  for (const s of SIGNALS) process.off(s, onSignal);

  io.out('');
  if (caught) {
    io.err(`vpnns demo: interrupted; ${teardownError ? `cleanup was incomplete: ${teardownError}` : 'everything it made was removed'}.`);
    return 128 + (caught === 'SIGINT' ? 2 : caught === 'SIGTERM' ? 15 : 1);
  }
  if (failure) {
    io.err(`vpnns demo: failed at step ${failure.n}/${total} (${failure.label}): ${failure.message}`);
    return 1;
  }
  if (teardownError) {
    io.err(`vpnns demo: failed at step ${total}/${total} (removing everything): ${teardownError}`);
    return 1;
  }
  io.out(`vpnns demo: every step worked, in ${secs(Date.now() - started)}; nothing is left behind.`);
  return 0;
}
