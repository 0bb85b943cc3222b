// Delegation for members (group vpnns): what `vpnns setup` installs and what a member may ask for.
// Pure: the sudoers drop-in, the root entry program and the member's request grammar are rendered
// and checked here; src/members/setup.ts writes them (`vpnns setup`), src/members/entry.ts enforces the grammar as root.
//
// The design: `%vpnns ALL=(root) NOPASSWD: ENTRY` in a sudoers drop-in. ENTRY is a fixed,
// root-owned program (written by `setup`, naming node and vpnns by absolute path). vpnns run as a
// member re-executes itself through `sudo -n -C 4 ENTRY ARGS`, with the member's environment on
// fd 3 (sudo resets the environment; closefrom_override lets fd 3 through). As root, the entry
// takes the member from SUDO_UID (set by sudo, which refuses to let the caller set it), accepts
// only the commands and options below, never reads a config the member names, and runs every
// program as the member.
import { NAMESPACE_PATTERN } from '../config/namespace-name.js';

export const MEMBER_GROUP = 'vpnns';
export const SUDOERS_DROPIN = '/etc/sudoers.d/vpnns';
/** Fixed, so every copy of vpnns a member runs finds it; setup writes it pointing at the installed vpnns. */
export const MEMBER_ENTRY = '/usr/local/libexec/vpnns-member';
export const SUDO = '/usr/bin/sudo';
export const VISUDO = '/usr/sbin/visudo';
/** The fd the member's environment travels on, through sudo (`-C 4` keeps 3 open). */
export const ENV_FD = 3;

/** A user name setup accepts: what useradd accepts, without anything sudoers or a shell would read specially. */
export const USER_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/;

export function renderSudoers(entry = MEMBER_ENTRY, group = MEMBER_GROUP): string {
  return `# Written by \`vpnns setup --user NAME\`; removed by \`vpnns setup --user NAME --remove\` with the last member.
# Members of group ${group} run ${entry} as root without a password. It accepts only vpnns's
# member commands (exec, kilo, app start|stop|status|logs|password, status, check) and always runs
# programs as the calling member. env_reset with !setenv: the caller's environment never reaches it
# (it travels on fd 3, as data); closefrom_override: so that fd 3 may be kept (sudo -C 4).
Defaults!${entry} env_reset, !setenv, closefrom_override
%${group} ALL=(root) NOPASSWD: ${entry}
`;
}

/**
 * The root entry: runs node on vpnns's own entry file, both by absolute path. The first argument
 * says whether fd 3 (the member's environment) is open; the shell looks, before node opens fds of
 * its own that could take number 3. The member's arguments follow it and cannot replace it.
 */
export function renderEntry(node: string, script: string): string {
  for (const p of [node, script]) {
    if (!/^\/[A-Za-z0-9._/+-]+$/.test(p)) throw new Error(`unsafe path for the member entry: ${JSON.stringify(p)}`);
  }
  return `#!/bin/sh
# Written by \`vpnns setup\`: the one program members of group ${MEMBER_GROUP} may run as root (see ${SUDOERS_DROPIN}).
if [ -e /dev/fd/${ENV_FD} ]; then exec '${node}' '${script}' env-fd "$@"; fi
exec '${node}' '${script}' no-env "$@"
`;
}

export type MemberCommand = 'exec' | 'kilo' | 'app' | 'status' | 'check';

/** The commands a member runs through the entry; `list` needs no root at all. */
export const DELEGATED: readonly MemberCommand[] = ['exec', 'kilo', 'app', 'status', 'check'];

export function isDelegated(name: string | undefined): name is MemberCommand {
  return DELEGATED.includes(name as MemberCommand);
}

/** The options each command takes from a member (after parsing with the command's own parser). */
export const MEMBER_OPTIONS: Record<MemberCommand, readonly string[]> = {
  exec: ['namespace', 'user', 'no-vpn-check', 'help', 'verbose'],
  kilo: ['namespace', 'user', 'help'],
  app: ['namespace', 'json', 'lines', 'timeout', 'help', 'verbose'],
  status: ['namespace', 'json', 'watch', 'interval', 'no-probe', 'help', 'verbose'],
  check: ['namespace', 'json', 'brief', 'help', 'verbose'],
};

export const MEMBER_APP_VERBS = ['start', 'stop', 'status', 'logs', 'password'] as const;

/** Why an option is not a member's, in one sentence with the way out. */
export function refusedOption(command: MemberCommand, option: string): string {
  switch (option) {
    case 'config':
      return `a member cannot choose the config file: \`vpnns ${command}\` uses the one \`sudo vpnns up\` started the namespace with; pick the namespace with --namespace NS, or run it with sudo.`;
    case 'drill':
      return '`vpnns check --drill` stops the VPN client, which only root may do; run it with sudo.';
    case 'dry-run':
      return `--dry-run is not a member's option of \`vpnns ${command}\`; leave it out, or run it with sudo.`;
    default:
      return `--${option} is not a member's option of \`vpnns ${command}\`; leave it out, or run it with sudo.`;
  }
}

/**
 * Checks parsed options against MEMBER_OPTIONS and the values a member may give; returns the
 * sentence that refuses, or undefined. `user` is the member's own name (the only --user accepted).
 */
export function memberRequestProblem(command: MemberCommand, opts: Record<string, string | boolean | undefined>, positional: readonly string[], user: string): string | undefined {
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined) continue;
    if (!MEMBER_OPTIONS[command].includes(k)) return refusedOption(command, k);
  }
  if (opts.user !== undefined && opts.user !== user) {
    return `a member's programs run as that member: --user ${JSON.stringify(String(opts.user))} is refused for ${user}; leave --user out.`;
  }
  if (opts.namespace !== undefined && !(typeof opts.namespace === 'string' && NAMESPACE_PATTERN.test(opts.namespace))) {
    return `--namespace ${JSON.stringify(String(opts.namespace))} is not a namespace name; use 1 to 15 lowercase letters, digits or \`-\`, starting with a letter or digit (e.g. vpn-ns).`;
  }
  if (command === 'app' && positional.length > 0 && !MEMBER_APP_VERBS.includes(positional[0] as (typeof MEMBER_APP_VERBS)[number])) {
    return `\`vpnns app ${positional[0]}\` is not a member's command (members have ${MEMBER_APP_VERBS.join(', ')}); run it with sudo.`;
  }
  return undefined;
}

/** NUL-separated KEY=VALUE (as the sandbox's env script reads it), at most `max` bytes. */
export function encodeEnv(env: NodeJS.ProcessEnv): Buffer {
  return Buffer.from(
    Object.entries(env)
      .filter((e): e is [string, string] => typeof e[1] === 'string' && !e[0].includes('\0') && !e[0].includes('=') && !e[1].includes('\0'))
      .map(([k, v]) => `${k}=${v}\0`)
      .join(''),
  );
}

export const MAX_ENV_BYTES = 1 << 20;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The member's environment as data: only well-formed names, never applied to a root process. */
export function decodeEnv(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const rec of buf.toString('utf8').split('\0')) {
    const eq = rec.indexOf('=');
    if (eq <= 0) continue;
    const k = rec.slice(0, eq);
    if (ENV_NAME.test(k)) out[k] = rec.slice(eq + 1);
  }
  return { ...out };
}

/** Group members from /etc/group text and the primary group from /etc/passwd: is `user` in `group`? */
export function isGroupMember(user: string, groupText: string, passwdText: string, group = MEMBER_GROUP): boolean {
  const line = groupText.split('\n').map((l) => l.split(':')).find((f) => f.length >= 4 && f[0] === group);
  if (!line) return false;
  if (line[3]!.split(',').map((s) => s.trim()).includes(user)) return true;
  const pw = passwdText.split('\n').map((l) => l.split(':')).find((f) => f.length >= 7 && f[0] === user);
  return pw !== undefined && pw[3] === line[2];
}
