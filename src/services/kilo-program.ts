// Which Kilo CLI `vpnns kilo` runs: the config's kilo app (apps.kilo.command), else kilocode or
// kilo as the user finds it (their bin directories, PATH, then their login shell's PATH).
import type { AppConfig, Config } from '../config/types.js';
import { UsageError } from '../errors.js';
import { helperEnv } from '../sandbox/launch.js';
import type { System } from '../sys/system.js';
import { findProgramSync, lookupUser, profileOf } from './apps.js';
import { KILO_PROGRAMS, kiloInstallHint } from './profiles/kilo.js';

/** The kilo app of the config (named `kilo`, or with `profile: kilo`), if any. */
export function kiloApp(cfg: Pick<Config, 'apps'>): AppConfig | undefined {
  return Object.entries(cfg.apps).find(([name, a]) => profileOf(name, a) === 'kilo')?.[1];
}

/** kilocode/kilo as the user finds it: their login shell's PATH (e.g. ~/.local/bin added by .profile). */
async function findInLoginShell(sys: System, user: string): Promise<string | undefined> {
  const script = KILO_PROGRAMS.map((p) => `command -v ${p}`).join(' || ');
  // KILO_PROGRAMS are fixed names: the script holds no input. A login shell builds its own environment.
  // A lookup (also under --dry-run): it runs the user's shell as the user, never as root.
  const r = await sys.query(['/usr/sbin/runuser', '-l', user, '-c', script], { allowFail: true, timeoutMs: 10_000, env: helperEnv() });
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('/')).pop();
}

/** The program (argv head) Kilo runs as for USER; refuses with the install hint when there is none. */
export async function kiloProgram(sys: System, app: Pick<AppConfig, 'command'> | undefined, user: string): Promise<string[]> {
  if (app?.command?.length) return app.command;
  const home = lookupUser(user)?.home;
  const found = findProgramSync(KILO_PROGRAMS, home) ?? (user === 'root' ? undefined : await findInLoginShell(sys, user));
  if (!found) throw new UsageError(`Kilo CLI (kilocode or kilo) is not installed for ${user}; ${kiloInstallHint()}.`);
  return [found];
}
