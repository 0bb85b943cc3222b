// A resource is one thing vpnns makes on the machine. `render` lives in pure modules; a resource
// only knows how to tell whether it is in place, put it in place, and take it away.
import type { Config } from '../config/types.js';
import type { System } from '../sys/system.js';
import type { Names } from './names.js';
import type { State } from './state.js';

export interface Context {
  sys: System;
  cfg: Config;
  names: Names;
  state: State;
  /** Progress lines for the person running the command. */
  say(line: string): void;
  /** Persist `state` (after a resource records runtime facts such as a PID). */
  saveState(): Promise<void>;
}

export interface Resource {
  /** Stable id recorded in the state file. */
  readonly id: string;
  /** What it is, for people: "namespace vpn-ns". */
  readonly title: string;
  /** Is it there and as the config wants it? Read-only. */
  check(ctx: Context): Promise<boolean>;
  /** Make it so. Called only when `check` said no; must also converge a half-made one. */
  apply(ctx: Context): Promise<void>;
  /** Take it away; tolerant of it being absent or half-made. Returns false if there was nothing to remove. */
  remove(ctx: Context): Promise<boolean>;
}
