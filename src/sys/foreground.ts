// A program in the foreground (`vpnns exec`, `vpnns kilo`, the browser, adguard's login): the
// terminal, signals and exit code pass through; the program's environment goes on fd 3.
import type { Writable } from 'node:stream';
import { constants } from 'node:os';
import { spawnArgv, type StdioOptions } from './spawn.js';
import { traceMark } from './trace.js';

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export interface ForegroundLaunch {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Written to fd 3 (the environment the program gets after the privilege drop). */
  payload?: Buffer;
}

/** Runs a launch in the foreground: the terminal, signals and exit code pass through; the program's environment goes on fd 3. */
export function spawnForeground(launch: ForegroundLaunch, io: { err(l: string): void }): Promise<number> {
  const { argv } = launch;
  return new Promise((resolve) => {
    const stdio: StdioOptions = launch.payload ? ['inherit', 'inherit', 'inherit', 'pipe'] : 'inherit';
    traceMark('exec: spawn');
    const child = spawnArgv(argv, { stdio, env: launch.env, cwd: process.cwd() });
    const envPipe = child.stdio[3] as Writable | null | undefined;
    // The reader is the user's perl, which may never start (a failed mount): a closed pipe is not an error.
    envPipe?.on('error', () => {});
    if (launch.payload) envPipe?.end(launch.payload);
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of [...FORWARDED, 'SIGINT' as const]) {
      // Ctrl-C on a terminal already reaches the child (same process group); forward SIGINT only
      // when it cannot have come from the terminal, or the child would see it twice.
      const h = () => {
        if (sig === 'SIGINT' && process.stdin.isTTY) return;
        child.kill(sig);
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
    const done = (code: number) => {
      traceMark('exec: program exited');
      for (const [sig, h] of handlers) process.off(sig, h);
      resolve(code);
    };
    child.on('error', (e) => {
      io.err(`vpnns: cannot run ${argv[0]}: ${e.message}`);
      done(127);
    });
    child.on('exit', (code, signal) => done(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
  });
}
