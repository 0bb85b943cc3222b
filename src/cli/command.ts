import type { Config } from '../config/types.js';
import { UsageError } from '../errors.js';
import type { OptionSpec, Parsed } from './args.js';
import { memberContext } from '../members/context.js';
import { MEMBER_ENTRY, MEMBER_GROUP } from '../members/policy.js';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';

/** What members of group vpnns run without sudo (src/members/policy.ts), as requireRoot names them. */
const MEMBER_COMMANDS = new Set(['exec', 'kilo', 'app start', 'app stop', 'app password', 'check']);

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'NAME';
  }
}

export interface Io {
  out(line?: string): void;
  err(line: string): void;
  isTTY: boolean;
}

export interface Command {
  name: string;
  usage: string;
  options?: Record<string, OptionSpec>;
  hidden?: boolean;
  /** Honours --dry-run (or changes nothing anyway). Others refuse it rather than act for real. */
  dryRun?: true;
  /** Its own argument parser (for commands that hand arguments on to another program, like `kilo`). */
  parse?(argv: string[]): Parsed;
  run(args: Parsed, io: Io): Promise<number>;
}

export function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    if (existsSync(MEMBER_ENTRY) && MEMBER_COMMANDS.has(what)) {
      throw new UsageError(`\`vpnns ${what}\` needs root and you are not a member of group ${MEMBER_GROUP}; run it with sudo, or ask an administrator for \`sudo vpnns setup --user ${userName()}\`.`);
    }
    throw new UsageError(`\`vpnns ${what}\` must run as root (it changes network namespaces and the firewall); run it with sudo: sudo vpnns ${what}`);
  }
}

export async function configFrom(args: Parsed): Promise<Config> {
  // A member's request (admitted as root by src/members/entry.ts): the namespace's config, never a file the member names.
  const member = memberContext();
  if (member) return structuredClone(member.config);
  const file = typeof args.opts.config === 'string' ? args.opts.config : undefined;
  // Loaded when needed: the YAML parser and the schema are most of a command's start-up (exec avoids them).
  const { loadConfig } = await import('../config/load.js');
  const cfg = await loadConfig({ file });
  if (typeof args.opts.namespace === 'string') cfg.namespace = args.opts.namespace;
  return cfg;
}
