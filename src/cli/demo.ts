import { existsSync } from 'node:fs';
import { requireRoot, type Command, type Io } from './command.js';
import { DemoSession, Interrupted, StepFailed, worldMissingMessage, WORLD_JS, APP_HOST_PORT, type Step } from '../demo/session.js';

export const demoCommand: Command = {
  name: 'demo',
  usage: `vpnns demo

Builds a small simulated internet out of network namespaces (an echo service, an ISP resolver and a
WireGuard VPN provider; the same one the end-to-end tests use), runs \`vpnns up\` with WireGuard
against it from a simulated "host" namespace, and shows:
  - a request from the host (the host's address) next to one from inside (the VPN's address),
  - \`vpnns check\`'s table,
  - the SOCKS5 and HTTP proxies used from the host,
  - an app inside the namespace answering on the host's 127.0.0.1:${APP_HOST_PORT},
then runs \`vpnns down\` and removes the simulated internet. Ctrl-C (or SIGTERM) at any point stops
and removes everything; a second Ctrl-C does not skip that. Nothing touches this machine's own
network: the demo's namespaces are named vdXXXX-* and everything runs inside them.

Needs root, and the Debian packages scripts/bootstrap installs (wireguard-go, iproute2, nftables…).
Exit code 0 when every step worked, 1 otherwise (the failing step is named), 130 when interrupted.`,
  async run(_args, io) {
    requireRoot('demo');
    if (!existsSync(WORLD_JS)) {
      io.err(`vpnns: ${worldMissingMessage()}`);
      return 1;
    }
    return runDemo(io);
  },
};

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Progress lines: on a terminal the label shows while the step runs; in a pipe, whole lines only. */
class Progress {
  private open = '';
  /** The running step's half line was ended by another message: reprint it whole at the end. */
  private broken = false;
  constructor(private readonly io: Io) {}
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

async function runDemo(io: Io): Promise<number> {
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
