// `vpnns adguard SUBCOMMAND`: adguardvpn-cli run by hand (login, status, list-locations...) as the
// namespace's VPN client would run: root, the HOME vpnns gives it, a clean environment, and for
// the subcommands bound to the machine, inside the namespace in the client's cgroup and group.
import { UsageError } from '../errors.js';
import type { Config, VpnAdguard } from '../config/types.js';
import { namesFor } from '../core/names.js';
import { readState } from '../core/state.js';
import { netnsExists } from '../net/ip.js';
import { clientCgroup, ensureClientCgroup, killCgroup } from '../sys/client-cgroup.js';
import { fullArgv } from '../sys/process.js';
import { findTool } from '../sys/tools.js';
import { System } from '../sys/system.js';
import { makeDir } from '../sys/files.js';
import { adguardEnv, adguardHome } from './adguard.js';
import { CLIENT_GID } from './provider.js';

/**
 * Subcommands whose result is bound to the machine the client sees: its login session is tied to
 * the MAC address and the hostname (public record: a new MAC forces a new login). They run inside
 * the namespace, where the MAC is the veth's stable one (src/net/mac.ts), so a login here is the
 * login every `up` (and every reboot) finds.
 */
const BOUND_TO_MACHINE = new Set(['login', 'logout', 'license', 'connect', 'status', 'disconnect']);

export interface AdguardSessionHooks {
  /** Brings the namespace's network up without the VPN and without a supervisor (plan/'s `up`, above this layer). */
  up(sys: System): Promise<unknown>;
  /** Takes it down again. */
  down(sys: System): Promise<unknown>;
  /** Messages for the person at the terminal. */
  err(line: string): void;
}

/**
 * Runs `adguardvpn-cli SUB...` for CFG's namespace in the foreground; its exit code. When a bound
 * subcommand finds the namespace down, its network comes up (no VPN: the kill switch lets only the
 * client out) for this command alone, and goes down again whatever happens (a cancelled login too).
 */
export async function runAdguard(cfg: Config, sub: readonly string[], hooks: AdguardSessionHooks): Promise<number> {
  if (cfg.vpn.type !== 'adguard') throw new UsageError('vpn.type is not adguard in the config; set `vpn: {type: adguard}` first.');
  if (!sub.length) throw new UsageError('which subcommand? e.g. `vpnns adguard login` or `vpnns adguard status`.');
  const vpn = cfg.vpn as VpnAdguard;
  const bin = await findTool(vpn.binary);
  if (!bin) throw new UsageError(`${vpn.binary} is not installed; install AdGuard VPN CLI (curl -fsSL https://raw.githubusercontent.com/AdguardTeam/AdGuardVPNCLI/master/scripts/release/install.sh | sh -s -- -v) or set vpn.binary to its path.`);
  const home = adguardHome({ cfg });
  await makeDir(home, 0o700);
  const names = namesFor(cfg);
  const sys = new System(false);
  const env = adguardEnv(home, process.env, true);
  const bound = BOUND_TO_MACHINE.has(sub[0]!);
  const isUp = (await netnsExists(sys, names.ns)) && (await readState(names)) !== undefined;
  if (!bound) {
    const argv = isUp ? fullArgv({ name: 'adguard', netns: names.ns, argv: [bin, ...sub] }) : [bin, ...sub];
    // A root client: a clean environment with its HOME, never the caller's (LD_PRELOAD, NODE_OPTIONS).
    return sys.foreground({ argv, env }, hooks);
  }
  const cg = clientCgroup(names.ns);
  const inside = async (): Promise<number> => {
    if (cg) await ensureClientCgroup(sys, cg);
    const argv = fullArgv({ name: 'adguard', netns: names.ns, gid: CLIENT_GID, cgroup: cg?.dir, argv: [bin, ...sub] });
    return sys.foreground({ argv, env }, hooks);
  };
  if (isUp) return inside();
  hooks.err(`vpnns: namespace ${names.ns} is down: bringing up its network (no VPN) for \`adguardvpn-cli ${sub[0]}\`, then down again.`);
  await hooks.up(sys);
  try {
    return await inside();
  } finally {
    if (cg) await killCgroup(sys, cg);
    await hooks.down(sys);
  }
}
