// The config a running namespace acts on, as root decides it: its state.json (root's, 0600, written
// by `up` from the config it validated) while the file `up` read is unchanged, else that file, read
// and trust-checked now. `vpnns exec --namespace NS` uses it so no YAML is parsed on its fast path;
// a member's request (members/entry.ts) so the config is never one the member names.
import type { Config } from '../config/types.js';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { stateDirOf } from './names.js';
import { readState, statePath, type State } from './state.js';

/** PATH is root's and only root can write it: state that decides the sandbox must be what `up` wrote. */
export function rootsOnly(path: string): boolean {
  try {
    const st = statSync(path);
    return st.uid === 0 && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * FILE (undefined: `up` ran on the defaults) has not been written, chmod'ed, chown'ed or replaced
 * since `when`; a file removed since says nothing newer than the state either.
 */
export function unchangedSince(file: string | undefined, when: string): boolean {
  if (file === undefined) return true;
  const at = Date.parse(when);
  try {
    return Number.isFinite(at) && statSync(resolve(file)).ctimeMs < at;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** NS's state, only when root alone could have written it (directory and file) and it is NS's. */
export async function trustedState(ns: string): Promise<State | undefined> {
  const dir = stateDirOf(ns);
  const state = rootsOnly(dir.stateDir) && rootsOnly(statePath(dir)) ? await readState(dir) : undefined;
  return state && state.config.namespace === ns ? state : undefined;
}

/**
 * The config STATE's namespace acts on now: the state's own while the config file `up` read has not
 * changed since (its ctime, which a write, chmod, chown or rename moves, is older than startedAt),
 * else that file loaded (and trust-checked) now, so the sandbox is the one it says now.
 */
export async function upConfig(state: State): Promise<Config> {
  const source = state.config.source;
  if (unchangedSince(source, state.startedAt)) return state.config;
  // Loaded only here: the YAML parser is most of exec's start-up (scripts/bundle.mjs keeps it out).
  const { loadConfig } = await import('../config/load.js');
  return { ...(await loadConfig({ file: source })), namespace: state.config.namespace };
}
