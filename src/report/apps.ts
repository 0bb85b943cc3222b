// `vpnns app status|logs|password`: the apps of a namespace as its supervisor last wrote them, an
// app's own output, a code-server app's password. Read for people and scripts; nothing here needs
// the supervisor to answer.
import { readFile } from 'node:fs/promises';
import type { AppConfig, Config } from '../config/types.js';
import { UsageError, VpnnsError } from '../errors.js';
import { logDirFor } from '../core/log.js';
import type { Names } from '../core/names.js';
import { readStatus, type ComponentStatus } from '../core/status.js';
import { appDir, appServiceName, appUrl, isInteractive, profileOf } from '../services/apps.js';
import { ensurePassword, passwordPath } from '../services/profiles/code-server.js';
import { System } from '../sys/system.js';

/** apps.NAME, or one sentence naming the apps there are. */
export function appOf(cfg: Config, name: string | undefined): AppConfig {
  if (!name) throw new UsageError('which app? e.g. `vpnns app start code-server`.');
  const a = cfg.apps[name];
  if (!a) {
    const known = Object.keys(cfg.apps);
    throw new UsageError(`there is no app "${name}" in the config; ${known.length ? `it has: ${known.join(', ')}` : 'add it under `apps:`'}.`);
  }
  return a;
}

export interface AppStatusRow {
  name: string;
  profile?: string;
  user?: string;
  state: string;
  pid?: number;
  since?: string;
  restarts: number;
  lastError?: string;
  /** How it last ended (null: a signal), when it has died before. */
  lastExitCode?: number | null;
  crashLooping?: boolean;
  url?: string;
  autostart: boolean;
  requireVpn: boolean;
}

export function appStatusRows(cfg: Config, components: Record<string, ComponentStatus>): AppStatusRow[] {
  return Object.entries(cfg.apps).map(([name, a]) => {
    const c = components[appServiceName(name)];
    const interactive = isInteractive(name, a);
    return {
      name,
      profile: profileOf(name, a),
      user: a.user,
      state: interactive ? 'interactive' : c?.crashLooping && c.state !== 'stopped' ? 'crash-looping' : (c?.state ?? 'stopped'),
      pid: c?.pid,
      since: c?.since,
      restarts: c?.restarts ?? 0,
      lastError: c?.lastError,
      ...(c?.lastExitCode !== undefined && { lastExitCode: c.lastExitCode }),
      ...(c?.crashLooping && { crashLooping: true }),
      url: appUrl(name, a),
      autostart: a.autostart,
      requireVpn: a.requireVpn,
    };
  });
}

/** The rows of every app, or of app `name` (which must exist), from the status file. */
export async function appStatus(cfg: Config, names: Pick<Names, 'stateDir'>, name: string | undefined): Promise<AppStatusRow[]> {
  const st = await readStatus(names);
  const rows = appStatusRows(cfg, st?.components ?? {});
  if (!name) return rows;
  appOf(cfg, name);
  return rows.filter((r) => r.name === name);
}

/** The last `lines` lines of app `name`'s output file; `lines` undefined when it has none yet. */
export async function appLog(cfg: Config, name: string, lines: number): Promise<{ file: string; lines?: string[] }> {
  appOf(cfg, name);
  const file = `${logDirFor(cfg)}/${appServiceName(name)}.log`;
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw new VpnnsError(`cannot read ${file} (${e.code ?? e.message}); run with sudo.`);
  });
  if (text === undefined) return { file };
  const all = text.split('\n');
  if (all[all.length - 1] === '') all.pop();
  return { file, lines: all.slice(-lines) };
}

/** The password of code-server app `name`: the same file the app's start reads, made now if the app has never started. */
export async function appPassword(cfg: Config, names: Pick<Names, 'ns'>, name: string | undefined): Promise<string> {
  const a = appOf(cfg, name);
  if (profileOf(name!, a) !== 'code-server') throw new UsageError(`apps.${name} is not a code-server app; only code-server has a password.`);
  if (a.auth === 'none') throw new UsageError(`apps.${name} has auth: none: it has no password (and anyone on this machine can open it).`);
  return ensurePassword(new System(false), passwordPath(appDir(names.ns, name!)));
}
