// Who asked: programs run inside as the person who ran `sudo vpnns ...`, not as root.
import { readFileSync } from 'node:fs';

export interface Invoker {
  user: string;
  /** How we know: "--user", "SUDO_USER", ... or "default" (root). */
  source: string;
}

function userOfUid(uid: string): string | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[2] === uid) return f[0];
    }
  } catch {
    /* no passwd */
  }
  return undefined;
}

export function invokingUser(explicit?: string, env: NodeJS.ProcessEnv = process.env): Invoker {
  if (explicit) return { user: explicit, source: '--user' };
  if (env.SUDO_USER && env.SUDO_USER !== 'root') return { user: env.SUDO_USER, source: 'SUDO_USER' };
  if (env.DOAS_USER && env.DOAS_USER !== 'root') return { user: env.DOAS_USER, source: 'DOAS_USER' };
  if (env.PKEXEC_UID) {
    const u = userOfUid(env.PKEXEC_UID);
    if (u && u !== 'root') return { user: u, source: 'PKEXEC_UID' };
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  if (uid !== 0) return { user: userOfUid(String(uid)) ?? String(uid), source: 'uid' };
  return { user: 'root', source: 'default' };
}

export function userExists(user: string): boolean {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .some((l) => l.split(':')[0] === user);
  } catch {
    return false;
  }
}
