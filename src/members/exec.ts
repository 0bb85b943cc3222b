// `vpnns exec`'s launch: a program inside the namespace as a person, refused while the namespace is
// down or (unless asked not to check) the VPN is not connected. On `vpnns exec`'s hot path: keep its
// imports few (bench/exec.ts; the YAML loader is reached only through `loadConfig`).
import type { Config } from '../config/types.js';
import { UsageError } from '../errors.js';
import { namesFor } from '../core/names.js';
import { readState, type State } from '../core/state.js';
import { trustedState, upConfig } from '../core/up-config.js';
import { netnsNamed } from '../net/netns-peek.js';
import type { Launch } from '../sandbox/index.js';
import { traceMark } from '../sys/trace.js';
import { invokingUser, userExists } from './invoker.js';
import { execLaunch } from './launch.js';
import { assertTunnelUp } from './tunnel.js';

export interface ExecRequest {
  /** `--namespace`, when given. */
  namespace?: string;
  /** Whether `--config` was given (then the file is read even with `--namespace`). */
  configGiven: boolean;
  /** `--user`, when given. */
  user?: string;
  vpnCheck: boolean;
  cmd: readonly string[];
}

/**
 * The launch of `r.cmd`: with `--namespace NS` and no `--config`, NS's trusted state and the config
 * it says (no YAML parsed while the file `up` read is unchanged); else `loadConfig()`. `warn` hears
 * that the program would run as root by default.
 */
export async function execPlan(r: ExecRequest, loadConfig: () => Promise<Config>, warn: (line: string) => void): Promise<Launch> {
  const { cfg, state } = await execConfig(r, loadConfig);
  traceMark('exec: config');
  const ns = state?.config.namespace ?? cfg.namespace;
  if (!netnsNamed(ns)) throw new UsageError(`namespace ${ns} is not up; run \`sudo vpnns up\` first.`);
  if (r.vpnCheck) await assertTunnelUp(ns, undefined, state?.config.vpn.type ?? cfg.vpn.type);
  traceMark('exec: tunnel checked');
  const who = invokingUser(r.user);
  if (!userExists(who.user)) throw new UsageError(`user "${who.user}" does not exist on this machine; pass an existing one with --user.`);
  if (who.user === 'root' && who.source === 'default') {
    warn('vpnns: warning: running as root (no SUDO_USER and no --user); pass --user NAME to run as a normal user.');
  }
  // The sandbox as the config file says now (like the kilo app), not as it was at `up`.
  return execLaunch(cfg, ns, who.user, r.cmd);
}

async function execConfig(r: ExecRequest, loadConfig: () => Promise<Config>): Promise<{ cfg: Pick<Config, 'namespace' | 'vpn' | 'sandbox'>; state: State | undefined }> {
  if (r.namespace !== undefined && !r.configGiven) {
    const state = await trustedState(r.namespace);
    if (state) return { cfg: await upConfig(state), state };
  }
  const cfg = await loadConfig();
  return { cfg, state: await readState(namesFor(cfg)) };
}
