// The one import of node:child_process in vpnns (test/unit/layers.test.ts holds it to that). Every
// process is started from an argv array and never through a shell: `shell` cannot be passed, so
// no value, however hostile, is ever parsed as shell syntax. The helpers above this one (exec.ts
// for commands to completion, process.ts for long-running ones, foreground.ts) decide what to do
// with the child; the executor (executor.ts) is the only way to them from outside src/sys.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions, type SpawnSyncOptions, type SpawnSyncReturns } from 'node:child_process';

export type { ChildProcess, StdioOptions } from 'node:child_process';

export type ArgvSpawnOptions = Omit<SpawnOptions, 'shell' | 'argv0'>;

/** Starts argv[0] with argv[1..] as its arguments, no shell. */
export function spawnArgv(argv: readonly string[], opts: ArgvSpawnOptions = {}): ChildProcess {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('spawnArgv: empty argv');
  return spawn(cmd, args, { ...opts, shell: false });
}

/** Synchronous, for exit handlers where nothing async runs; no shell. Never throws: the result says. */
export function spawnArgvSync(argv: readonly string[], opts: Omit<SpawnSyncOptions, 'shell' | 'argv0' | 'encoding'> = {}): SpawnSyncReturns<string> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('spawnArgvSync: empty argv');
  return spawnSync(cmd, args, { ...opts, encoding: 'utf8', shell: false });
}
