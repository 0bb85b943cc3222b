// The member's side: vpnns run by a member of group vpnns (not root) hands the member commands to
// the root entry through `sudo -n`, transparently: same arguments, the terminal, signals and the
// exit code pass through, the member's environment goes on fd 3 (sudo resets it for root).
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { HELPER_PATH } from '../sandbox/clean-env.js';
import { encodeEnv, isDelegated, isGroupMember, MEMBER_ENTRY, SUDO } from './policy.js';

/** Whether this process (not root) should hand `argv` to the entry: a delegated command, setup done, and the caller a member. */
export function shouldDelegate(argv: readonly string[]): boolean {
  if (typeof process.getuid !== 'function' || process.getuid() === 0) return false;
  // `status` works without root (a limited view); members get the full one, others keep that.
  // Help too goes through the entry, which prints it (`exec -- grep --help` is grep's).
  if (!isDelegated(argv[0])) return false;
  return existsSync(MEMBER_ENTRY) && existsSync(SUDO) && callerIsMember();
}

export function callerIsMember(): boolean {
  try {
    return isGroupMember(userInfo().username, readFileSync('/etc/group', 'utf8'), readFileSync('/etc/passwd', 'utf8'));
  } catch {
    return false;
  }
}

/** sudo's argv: -n never prompts (NOPASSWD, or a plain refusal), -C 4 keeps fd 3 (closefrom_override in the drop-in). */
export function sudoArgv(argv: readonly string[]): string[] {
  return [SUDO, '-n', '-C', '4', '--', MEMBER_ENTRY, ...argv];
}

export async function delegate(argv: readonly string[], io: { err(l: string): void }): Promise<number> {
  const { System } = await import('../sys/system.js');
  // sudo itself gets a plain environment; TERM tells it nothing it acts on but keeps the terminal's type for root's messages.
  const env: Record<string, string> = { PATH: HELPER_PATH, LANG: process.env.LANG ?? 'C.UTF-8', ...(process.env.TERM && { TERM: process.env.TERM }) };
  return new System(false).foreground({ argv: sudoArgv(argv), env, payload: encodeEnv(process.env) }, io);
}
