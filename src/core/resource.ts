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
  /**
   * This run made the namespace (`ip netns add`, which fails on a name that exists, just
   * succeeded): inside it there is nothing yet but loopback, at the kernel's defaults. A check of
   * something inside (a table, a rule, a sysctl) knows then without asking that it is not in place,
   * and `up` saves a process start per check. Never set for a namespace that was there before.
   */
  freshNamespace?: boolean;
  /**
   * The same run made the namespace with IPv6 already off inside (the config wants it off): the
   * process that made it also wrote those settings, so their check knows they are in place.
   */
  ipv6OffAtCreation?: boolean;
  /**
   * The names of the host's links as `up`'s first look, before anything is made, found them (the
   * preflight lists them all anyway): a `foreign` look of a host link answers from it instead of
   * starting a process. Set for that first look only.
   */
  hostLinks?: Promise<string[]>;
  /**
   * The host's nftables tables (`family name`) as `up` listed them in its first look, before
   * anything was made (undefined inside: nft could not list them). Kept for the run: the host
   * table's `foreign` answers from it (its only look: it is made exclusively), and so does the check
   * of accept rules in other tables' chains, which has nothing to do when no such table was there.
   */
  hostTables?: Promise<string[] | undefined>;
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
  /**
   * Something by this resource's name that is already on the machine although the state has no
   * record of vpnns making it: a person's or another program's. `up` refuses to take it over (and
   * so never removes it on failure or on `down`). Read-only; undefined when nothing is in the way.
   */
  foreign?(ctx: Context): Promise<Foreign | undefined>;
  /**
   * `remove` touches only what carries vpnns's own mark (a record file of the value it found, a
   * comment tag naming the namespace), so `down` calls it even when the state has no record of it:
   * shared host settings that another namespace's `up` may have been the one to change.
   */
  readonly selfTracked?: boolean;
  /**
   * `apply` makes it with a step that fails, changing nothing, when something of its name is
   * already there (`ip link add`, nft's `create table`), and then refuses in `foreign`'s sentence.
   * `up` then skips the look again right before recording it (a process start on the way to the
   * first byte): what appears after `up`'s first look can only make that step fail, never be taken
   * over. The first look, before anything is made, still refuses what is in the way.
   */
  readonly madeExclusively?: boolean;
}

/** What is in the way, and the command that removes it: "interface vh-x" / "`ip link del vh-x`". */
export interface Foreign {
  what: string;
  fix: string;
}
