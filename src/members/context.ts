// Set only by the root entry (src/members/entry.ts) in its own process, never from the environment
// or a file: while a member's request runs, the config is the namespace's (not one the member
// names), programs run as the member, and the member's environment reaches those programs only.
import type { Config } from '../config/types.js';

export interface MemberContext {
  /** The member, from SUDO_UID. */
  user: string;
  uid: number;
  /** The member's environment (from fd 3): for the programs run as the member, never for root's. */
  env: Record<string, string>;
  /** The namespace's config, as root resolved it. */
  config: Config;
}

let current: MemberContext | undefined;

export function setMemberContext(c: MemberContext): void {
  current = c;
}

export function memberContext(): MemberContext | undefined {
  return current;
}
