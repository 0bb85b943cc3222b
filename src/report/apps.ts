// `vpnns app status|logs|password`: the apps of a namespace as its live supervisor has them (root
// asks it on its control socket; a supervisor that does not answer is one sentence, not a stale
// table), else as it last wrote them in status.json (everyone else, or no supervisor); an app's own
// output; a code-server app's password.
import { readFile } from 'node:fs/promises';
import type { AppConfig, Config } from '../config/types.js';
import { UsageError, VpnnsError } from '../errors.js';
import { logDirFor } from '../core/log.js';
import type { Names } from '../core/names.js';
import { readState } from '../core/state.js';
import { readStatus, type ComponentStatus, type SupervisorStatus } from '../core/status.js';
import { request, SupervisorSilent } from '../supervisor/control-client.js';
import { isOurSupervisor, supervisorPid, supervisorStart } from '../supervisor/resource.js';
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
  /** Unknown (absent) for an app known only from status.json: the config it runs is root's to read. */
  autostart?: boolean;
  requireVpn?: boolean;
}

function componentState(c: ComponentStatus | undefined): Pick<AppStatusRow, 'state' | 'pid' | 'since' | 'restarts' | 'lastError' | 'lastExitCode' | 'crashLooping'> {
  return {
    state: c?.crashLooping && c.state !== 'stopped' ? 'crash-looping' : (c?.state ?? 'stopped'),
    pid: c?.pid,
    since: c?.since,
    restarts: c?.restarts ?? 0,
    lastError: c?.lastError,
    ...(c?.lastExitCode !== undefined && { lastExitCode: c.lastExitCode }),
    ...(c?.crashLooping && { crashLooping: true }),
  };
}

export function appStatusRows(cfg: Config, components: Record<string, ComponentStatus>): AppStatusRow[] {
  return Object.entries(cfg.apps).map(([name, a]) => {
    const c = components[appServiceName(name)];
    const interactive = isInteractive(name, a);
    const now = componentState(c);
    return {
      name,
      profile: profileOf(name, a),
      user: a.user,
      ...now,
      state: interactive ? 'interactive' : now.state,
      url: appUrl(name, a),
      autostart: a.autostart,
      requireVpn: a.requireVpn,
    };
  });
}

/** What the namespace's own live supervisor answers (root only); undefined when there is none to ask. */
async function askedStatus(names: Pick<Names, 'stateDir' | 'ns'>): Promise<SupervisorStatus | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const state = await readState(names);
  if (!state || !(await isOurSupervisor(supervisorPid(state), names.ns, supervisorStart(state)))) return undefined;
  try {
    return await request<SupervisorStatus>(names, { op: 'status' });
  } catch (e) {
    // Alive but silent (stopped, hung): its file would be a stale answer given as a live one.
    if (e instanceof SupervisorSilent) throw e;
    return undefined;
  }
}

/** The rows of every app, or of app `name` (which must exist): from the live supervisor, else the status file. */
export async function appStatus(cfg: Config, names: Pick<Names, 'stateDir' | 'ns'>, name: string | undefined): Promise<AppStatusRow[]> {
  const st = (await askedStatus(names)) ?? (await readStatus(names));
  const components = st?.components ?? {};
  // Without root the config the namespace runs (state.json) is unreadable, and `--namespace` alone
  // names no apps: the apps status.json shows are listed from what it says of them.
  const onlyInStatus = Object.entries(components)
    .filter(([k]) => k.startsWith(appServiceName('')) && !Object.hasOwn(cfg.apps, k.slice(appServiceName('').length)))
    .map(([k, c]): AppStatusRow => ({ name: k.slice(appServiceName('').length), ...componentState(c) }));
  const rows = [...appStatusRows(cfg, components), ...onlyInStatus];
  if (!name) return rows;
  if (!rows.some((r) => r.name === name)) appOf(cfg, name);
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
