// Apps: the user's programs run inside the namespace as the user, supervised like the daemons but
// never stopped with the tunnel (a VPN reconnect must not close someone's editor). An app with
// requireVpn starts only once the tunnel is up. Apps without autostart are started on request
// (`vpnns app start NAME`). Profiles add what a known program needs: code-server (a password,
// its own data directories, published port) and kilo (interactive: `vpnns kilo`, not supervised).
import { accessSync, constants, existsSync } from 'node:fs';
import { lookupUser, type UserInfo } from './users.js';
import { join } from 'node:path';
import type { AppConfig, AppProfile, Config } from '../config/types.js';
import { APP_PROFILES } from '../config/schema.js';
import type { Names } from '../core/names.js';
import { registerServices, type ServiceSpec } from '../core/services.js';
import type { System } from '../sys/system.js';
import { codeServerArgv, codeServerEnv, codeServerPaths, ensurePassword, passwordPath, CODE_SERVER_PROGRAM } from './profiles/code-server.js';
import { KILO_PROGRAMS } from './profiles/kilo.js';
import { sandboxPlan } from '../sandbox/channels.js';
import { LIB_DIR } from '../config/paths.js';

export function appDir(ns: string, app: string): string {
  return `${LIB_DIR}/${ns}/apps/${app}`;
}

export function appServiceName(app: string): string {
  return `app-${app}`;
}

export function profileOf(name: string, a: Pick<AppConfig, 'profile'>): AppProfile | undefined {
  if (a.profile) return a.profile;
  return (APP_PROFILES as readonly string[]).includes(name) ? (name as AppProfile) : undefined;
}

/** Interactive apps run in the caller's terminal (`vpnns kilo`), never under the supervisor. */
export function isInteractive(name: string, a: Pick<AppConfig, 'profile'>): boolean {
  return profileOf(name, a) === 'kilo';
}

export { lookupUser, type UserInfo } from './users.js';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Where a user's own installs usually land (npm's user prefix, pipx, ~/bin). */
export function userBinDirs(home: string): string[] {
  return [`${home}/.local/bin`, `${home}/.npm-global/bin`, `${home}/bin`];
}

/** The first of `candidates` found on PATH, in the system directories or in the user's own bin directories. */
export function findProgramSync(candidates: readonly string[], home?: string, path = process.env.PATH ?? ''): string | undefined {
  const dirs = [...path.split(':').filter((d) => d.startsWith('/')), ...SYSTEM_DIRS, ...(home ? userBinDirs(home) : [])];
  for (const c of candidates) {
    if (c.includes('/')) {
      if (isExecutable(c)) return c;
      continue;
    }
    for (const d of dirs) {
      const p = join(d, c);
      if (isExecutable(p)) return p;
    }
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The argv of an app's program: its `command`, else the profile's program found on this machine (else its bare name). */
export function appProgram(name: string, a: AppConfig, home?: string): string[] | undefined {
  if (a.command?.length) return a.command;
  switch (profileOf(name, a)) {
    case 'code-server':
      return [findProgramSync([CODE_SERVER_PROGRAM], home) ?? CODE_SERVER_PROGRAM];
    case 'kilo': {
      const found = findProgramSync(KILO_PROGRAMS, home);
      return found ? [found] : undefined;
    }
    default:
      return undefined;
  }
}

/** Base environment of an app: the user's runtime dir, not root's (runuser keeps XDG_RUNTIME_DIR as it was). */
function userEnv(user: UserInfo | undefined): Record<string, string> {
  if (!user || user.uid === 0) return {};
  const runtime = `/run/user/${user.uid}`;
  return { XDG_RUNTIME_DIR: existsSync(runtime) ? runtime : '' };
}

/** The supervised process of one app, or undefined for interactive apps and apps with nothing to run. */
export function appSpec(cfg: Config, names: Pick<Names, 'ns' | 'nsAddr'>, name: string): ServiceSpec | undefined {
  const a = cfg.apps[name];
  if (!a || isInteractive(name, a)) return undefined;
  const userName = a.user ?? 'root';
  const user = lookupUser(userName);
  const home = user?.home ?? (userName === 'root' ? '/root' : `/home/${userName}`);
  const program = appProgram(name, a, home);
  if (!program) return undefined;
  const profile = profileOf(name, a);
  const service = appServiceName(name);
  const env: Record<string, string> = { ...userEnv(user) };
  let argv = program;
  let prepare: ServiceSpec['prepare'];
  if (profile === 'code-server') {
    const auth = a.auth ?? 'password';
    argv = codeServerArgv({ program, bindHost: names.nsAddr, port: a.port ?? 8080, auth, paths: codeServerPaths(home) });
    Object.assign(env, codeServerEnv());
    if (auth === 'password') {
      const file = passwordPath(appDir(names.ns, name));
      // Read (or made) before every start and handed over in the environment, never on the command line.
      prepare = async (sys: System) => {
        env.PASSWORD = await ensurePassword(sys, file);
      };
    }
  }
  Object.assign(env, a.env);
  // The user's local channels outside (tmux, D-Bus, ...) hidden as the config says; the environment
  // (apps.*.env, the password) reaches the program only after the drop (src/sandbox/launch.ts).
  const uid = user?.uid ?? (userName === 'root' ? 0 : undefined);
  const plan = uid === undefined ? { hide: [], unset: [] } : sandboxPlan(cfg.sandbox, { uid, home, env: a.env });
  return {
    name: service,
    process: {
      name: service,
      argv,
      netns: names.ns,
      env,
      ...(userName !== 'root' && { user: userName }),
      sandbox: { uid: uid ?? -1, gid: user?.gid ?? (uid === 0 ? 0 : -1), hide: plan.hide, unset: plan.unset },
      ...(existsSync(home) && { cwd: home }),
    },
    needsTunnel: a.requireVpn && cfg.vpn.type !== 'none',
    followsTunnel: false,
    manual: !a.autostart,
    // runuser gives its child 2 s after passing SIGTERM on; it must not be killed before that.
    stopGraceMs: 6000,
    ...(prepare && { prepare }),
  };
}

export function appServices(cfg: Config, names: Names): ServiceSpec[] {
  return Object.keys(cfg.apps).flatMap((name) => appSpec(cfg, names, name) ?? []);
}

registerServices(appServices);

/**
 * Fills in each app's user with the invoking user (kept in the state `up` saves, so the background
 * supervisor uses it) and says what the user should know: apps running as root, code-server
 * without a password, a missing program.
 */
export function resolveAppUsers(cfg: Config, invoker: { user: string; source: string }): string[] {
  const warnings: string[] = [];
  for (const [name, a] of Object.entries(cfg.apps)) {
    if (a.user === undefined) {
      a.user = invoker.user;
      if (invoker.user === 'root' && !isInteractive(name, a)) {
        warnings.push(`apps.${name} will run as root (no SUDO_USER to take the user from); set \`apps.${name}.user\` or run vpnns with sudo from your account.`);
      }
    }
  }
  return [...warnings, ...appWarnings(cfg)];
}

export function appWarnings(cfg: Config): string[] {
  const out: string[] = [];
  for (const [name, a] of Object.entries(cfg.apps)) {
    const profile = profileOf(name, a);
    const home = lookupUser(a.user ?? 'root')?.home;
    if (profile === 'code-server' && a.auth === 'none') {
      out.push(`apps.${name} has auth: none: anyone who can reach 127.0.0.1:${a.port ?? 8080} on this machine (every local user and program) gets a shell as ${a.user ?? 'the user'}.`);
    }
    if (profile === 'kilo' && a.autostart) out.push(`apps.${name} is interactive: autostart is ignored; run it with \`vpnns kilo\`.`);
    if (!profile && !a.command?.length) out.push(`apps.${name} has no command and no profile; add \`command: [PROGRAM, ARGS...]\`.`);
    if (profile === 'code-server' && !a.command?.length && !findProgramSync([CODE_SERVER_PROGRAM], home)) {
      out.push(`apps.${name}: code-server is not installed; \`vpnns doctor\` says how (or \`sudo vpnns app install code-server\`).`);
    }
  }
  return out;
}

/** Where the host reaches an app's web UI, if it publishes its own port. */
export function appUrl(name: string, a: AppConfig): string | undefined {
  if (profileOf(name, a) !== 'code-server') return undefined;
  const port = a.port ?? 8080;
  const pub = a.publish.find((p) => (p.target ?? p.port) === port);
  return pub?.host ? `http://${pub.host}/` : undefined;
}
