import { UsageError, VpnnsError } from '../errors.js';
import { namesFor, stateDirOf } from '../core/names.js';
import { readState, statePath, type State } from '../core/state.js';
import type { System } from '../sys/system.js';
import { linkInNetns, netnsNamed } from '../net/netns-peek.js';
import { readStatus } from '../core/status.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { invokingUser, userExists } from './invoker.js';
import type { Config } from '../config/types.js';
import { lookupUser } from '../services/users.js';
import { renderLaunch, type Launch } from '../sandbox/index.js';
import { PERL } from '../sandbox/launch.js';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Parsed } from './args.js';
import { memberContext } from '../members/context.js';
import { traceMark } from '../sys/trace.js';

import { spawnForeground } from '../sys/foreground.js';

// Kept under its old name here: kilo, browser and adguard call it from this module.
export { spawnForeground };

/**
 * How CMD runs inside as USER: `ip netns exec` applies /etc/netns, the sandbox hides the user's
 * local channels, runuser sets HOME and groups, and the caller's environment (plus `extraEnv`)
 * reaches CMD only after the privilege drop (src/sandbox/launch.ts).
 */
export function execLaunch(cfg: Pick<Config, 'sandbox'>, ns: string, user: string, cmd: readonly string[], extraEnv: Record<string, string> = {}, callerEnv: NodeJS.ProcessEnv = memberContext()?.env ?? process.env): Launch {
  // A member's request (src/cli/member-entry.ts) runs programs as that member and nobody else.
  const member = memberContext();
  if (member && user !== member.user) throw new UsageError(`a member's programs run as that member: ${JSON.stringify(user)} is refused for ${member.user}; leave --user out.`);
  if (!existsSync(PERL)) throw new UsageError(`${PERL} is missing (vpnns's sandbox needs it); install it with: apt-get install perl-base`);
  const u = lookupUser(user);
  if (!u) throw new UsageError(`user "${user}" does not exist on this machine; pass an existing one with --user.`);
  return renderLaunch({ ns, user: u, sandbox: cfg.sandbox, cmd, callerEnv, extraEnv });
}

/**
 * Refuses while the tunnel is down (requireVpn), so a program never starts unprotected: the
 * supervisor must say the VPN runs, and the tunnel link must exist in the namespace. The link is
 * looked up through a component's process that is inside the namespace (/proc/PID/net/dev, no
 * spawn); when none can tell, `ip -n NS link show TUNNEL` decides, as before.
 */
export async function assertTunnelUp(ns: string, sys: System | undefined, vpnType: string): Promise<void> {
  if (vpnType === 'none') return;
  const st = await readStatus(stateDirOf(ns));
  const vpn = st?.components.vpn;
  const tunnel = (vpn?.detail?.tunnel as string | undefined) ?? undefined;
  const ask = async (t: string) => {
    const s = sys ?? new (await import('../sys/system.js')).System(false);
    return (await s.query(['ip', '-n', ns, 'link', 'show', t], { allowFail: true })).code === 0;
  };
  const pids = Object.values(st?.components ?? {}).flatMap((c) => (typeof c.pid === 'number' ? [c.pid] : []));
  const linkUp = tunnel && vpn?.state === 'running' ? (linkInNetns(ns, tunnel, pids) ?? (await ask(tunnel))) : false;
  if (vpn?.state !== 'running' || !linkUp) {
    throw new VpnnsError(
      `the VPN in namespace ${ns} is not connected (${vpn?.state ?? 'no supervisor'}${vpn?.lastError ? `: ${vpn.lastError}` : ''}); wait for it to reconnect (\`vpnns status\`) or run \`sudo vpnns up\`.`,
    );
  }
}

export const execCommand: Command = {
  name: 'exec',
  usage: `vpnns exec [--user USER] [--no-vpn-check] -- CMD [ARGS...]

Runs CMD inside the namespace as the invoking user (SUDO_USER under sudo, or --user), with that
user's groups, HOME/USER/LOGNAME, the rest of the environment, the working directory, the terminal,
and the namespace's resolv.conf. Returns CMD's exit code. Refuses while the VPN is not connected
unless --no-vpn-check is given.`,
  options: { user: { value: true, short: 'u' }, namespace: { value: true }, 'no-vpn-check': {} },
  async run(args, io) {
    requireRoot('exec');
    const cmd = args.rest.length ? args.rest : args.positional;
    if (!cmd.length) throw new UsageError('nothing to run; e.g. `vpnns exec -- curl https://example.com`.');
    traceMark('exec: command loaded');
    const { cfg, state } = await execConfig(args);
    traceMark('exec: config');
    const ns = state?.config.namespace ?? cfg.namespace;
    if (!netnsNamed(ns)) throw new UsageError(`namespace ${ns} is not up; run \`sudo vpnns up\` first.`);
    if (args.opts['no-vpn-check'] !== true) await assertTunnelUp(ns, undefined, state?.config.vpn.type ?? cfg.vpn.type);
    traceMark('exec: tunnel checked');
    const who = invokingUser(typeof args.opts.user === 'string' ? args.opts.user : undefined);
    if (!userExists(who.user)) throw new UsageError(`user "${who.user}" does not exist on this machine; pass an existing one with --user.`);
    if (who.user === 'root' && who.source === 'default') {
      io.err('vpnns: warning: running as root (no SUDO_USER and no --user); pass --user NAME to run as a normal user.');
    }
    // The sandbox as the config file says now (like the kilo app), not as it was at `up`.
    return spawnForeground(execLaunch(cfg, ns, who.user, cmd), io);
  },
};

/**
 * The config exec acts on, and the namespace's state. `--namespace NS` without `--config`: NS's
 * state.json (root's, 0600, written by `up` from the config it validated) says everything exec needs,
 * as long as the config file `up` read has not changed since (its ctime, which a write, chmod,
 * chown or rename moves, is older than the state's startedAt): then no YAML is parsed. When it has
 * changed, that file is loaded (and trust-checked) now, so the sandbox is the one it says now.
 * Without state, or with --config, the config file is loaded as before.
 */
async function execConfig(args: Parsed): Promise<{ cfg: Pick<Config, 'namespace' | 'vpn' | 'sandbox'>; state: State | undefined }> {
  if (typeof args.opts.namespace === 'string' && typeof args.opts.config !== 'string') {
    const ns = args.opts.namespace;
    const dir = stateDirOf(ns);
    const state = rootsOnly(dir.stateDir) && rootsOnly(statePath(dir)) ? await readState(dir) : undefined;
    if (state && state.config.namespace === ns) {
      const source = state.config.source;
      if (unchangedSince(source, state.startedAt)) return { cfg: state.config, state };
      // Changed since `up`: the namespace's own config file, read (and trust-checked) now.
      const { loadConfig } = await import('../config/load.js');
      return { cfg: { ...(await loadConfig({ file: source })), namespace: ns }, state };
    }
  }
  const cfg = await configFrom(args);
  return { cfg, state: await readState(namesFor(cfg)) };
}

/** PATH is root's and only root can write it: state that decides the sandbox must be what `up` wrote. */
export function rootsOnly(path: string): boolean {
  try {
    const st = statSync(path);
    return st.uid === 0 && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * FILE (undefined: `up` ran on the defaults) has not been written, chmod'ed, chown'ed or replaced
 * since `when`; a file removed since says nothing newer than the state either.
 */
export function unchangedSince(file: string | undefined, when: string): boolean {
  if (file === undefined) return true;
  const at = Date.parse(when);
  try {
    return Number.isFinite(at) && statSync(resolve(file)).ctimeMs < at;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
