// What `up` made, recorded under /run/vpnns/<ns>/ before each step is applied, so `down`
// (or the next `up`) can undo a run that crashed half-way.
// Synchronous reads of small files in /run (a tmpfs): no wait worth a promise, and node:fs/promises
// (which loads readline with it) stays unloaded on `vpnns exec`'s path, a few ms of every call.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import type { Config } from '../config/types.js';
import { RUN_DIR, type Names } from './names.js';
import type { System } from '../sys/system.js';

export interface State {
  version: 1;
  namespace: string;
  /** Identity of the network namespace vpnns ran in (the "host"), for shared host settings. */
  hostNetns: string;
  startedAt: string;
  /** The config `up` used, so `down` undoes exactly that even if the file changed since. */
  config: Config;
  /** Resource ids in the order they were started (a crash may leave the last one half-made). */
  applied: string[];
  /** Runtime facts: PIDs, DNS pushed by the VPN, etc. */
  runtime: Record<string, unknown>;
}

export function hostNetnsId(): Promise<string> {
  return netnsId('/proc/self/ns/net');
}

/** The identity `hostNetnsId` records, of the network namespace whose file is `path` (/run/netns/NAME, say). */
export async function netnsId(path: string): Promise<string> {
  const s = statSync(path);
  return `net:${s.ino}`;
}

export function statePath(n: Pick<Names, 'stateDir'>): string {
  return `${n.stateDir}/state.json`;
}

export async function readState(n: Pick<Names, 'stateDir'>): Promise<State | undefined> {
  try {
    return JSON.parse(readFileSync(statePath(n), 'utf8')) as State;
  } catch {
    return undefined;
  }
}

export async function writeState(sys: System, n: Names, state: State): Promise<void> {
  if (sys.dryRun) return;
  await sys.writeFile(statePath(n), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  sys.actions.pop(); // bookkeeping, not an action the user asked for
}

/** States of every vpnns namespace on this machine (for shared host settings such as ip_forward). */
export async function allStates(): Promise<State[]> {
  let entries: string[];
  try {
    entries = readdirSync(RUN_DIR);
  } catch {
    return [];
  }
  const out: State[] = [];
  for (const e of entries) {
    try {
      out.push(JSON.parse(readFileSync(`${RUN_DIR}/${e}/state.json`, 'utf8')) as State);
    } catch {
      /* not a state dir */
    }
  }
  return out;
}
