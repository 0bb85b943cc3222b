// Which system programs vpnns needs, and the one apt line that installs a missing one.
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { SYSTEM_PATH } from '../config/paths.js';

const PACKAGE: Record<string, string> = {
  ip: 'iproute2',
  nft: 'nftables',
  wg: 'wireguard-tools',
  'wireguard-go': 'wireguard-go',
  openvpn: 'openvpn',
  danted: 'dante-server',
  tinyproxy: 'tinyproxy',
  socat: 'socat',
  tcpdump: 'tcpdump',
  runuser: 'util-linux',
  nsenter: 'util-linux',
  setpriv: 'util-linux',
  curl: 'curl',
  perl: 'perl-base',
  mount: 'mount',
};

const SYSTEM_DIRS = SYSTEM_PATH.split(':');

/**
 * Absolute path of a program, looking in the system directories too (a user's PATH may lack /usr/sbin).
 * As root only there: whatever is found is run as root (openvpn, wireguard-go, modprobe).
 */
export async function findTool(name: string, dirs = searchDirs()): Promise<string | undefined> {
  if (name.includes('/')) return (await isExecutable(name)) ? name : undefined;
  for (const dir of dirs) {
    const p = join(dir, name);
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

function searchDirs(): string[] {
  if (process.geteuid?.() === 0) return SYSTEM_DIRS;
  return [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SYSTEM_DIRS];
}

export async function requireTools(names: readonly string[], dirs = searchDirs()): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const n of names) {
    const p = await findTool(n, dirs);
    if (p) found[n] = p;
    else missing.push(n);
  }
  if (missing.length) {
    const pkgs = [...new Set(missing.map((m) => PACKAGE[m] ?? m))];
    throw new UsageError(
      `${missing.map((m) => `\`${m}\``).join(', ')} ${missing.length > 1 ? 'are' : 'is'} not installed; install ${pkgs.length > 1 ? 'them' : 'it'} with: apt-get install ${pkgs.join(' ')}`,
    );
  }
  return found;
}

export function packageFor(tool: string): string {
  return PACKAGE[tool] ?? tool;
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
