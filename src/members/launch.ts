// How a program starts inside as a person (`exec`, `kilo`, `browser`): the one place that decides
// who it runs as, so a member's request (members/entry.ts) never runs anything as anyone else.
import { UsageError } from '../errors.js';
import type { Config } from '../config/types.js';
import { existsSync } from 'node:fs';
import { lookupUser } from '../services/users.js';
import { renderLaunch, type Launch } from '../sandbox/index.js';
import { PERL } from '../sandbox/launch.js';
import { memberContext } from './context.js';

/**
 * How CMD runs inside as USER: `ip netns exec` applies /etc/netns, the sandbox hides the user's
 * local channels, runuser sets HOME and groups, and the caller's environment (plus `extraEnv`)
 * reaches CMD only after the privilege drop (src/sandbox/launch.ts).
 */
export function execLaunch(cfg: Pick<Config, 'sandbox'>, ns: string, user: string, cmd: readonly string[], extraEnv: Record<string, string> = {}, callerEnv: NodeJS.ProcessEnv = memberContext()?.env ?? process.env): Launch {
  // A member's request (src/members/entry.ts) runs programs as that member and nobody else.
  const member = memberContext();
  if (member && user !== member.user) throw new UsageError(`a member's programs run as that member: ${JSON.stringify(user)} is refused for ${member.user}; leave --user out.`);
  if (!existsSync(PERL)) throw new UsageError(`${PERL} is missing (vpnns's sandbox needs it); install it with: apt-get install perl-base`);
  const u = lookupUser(user);
  if (!u) throw new UsageError(`user "${user}" does not exist on this machine; pass an existing one with --user.`);
  return renderLaunch({ ns, user: u, sandbox: cfg.sandbox, cmd, callerEnv, extraEnv });
}
