import { spawnForeground } from '../sys/foreground.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { UsageError } from '../errors.js';
import { namesFor } from '../core/names.js';
import { adguardEnv, adguardHome } from '../vpn/adguard.js';
import { clientCgroup, ensureClientCgroup, killCgroup } from '../sys/client-cgroup.js';
import { CLIENT_GID } from '../vpn/provider.js';
import { fullArgv } from '../sys/process.js';
import { findTool } from '../sys/tools.js';
import { netnsExists } from '../net/ip.js';
import { System } from '../sys/system.js';
import { readState } from '../core/state.js';
import { down, up } from '../plan/engine.js';
import { makeDir } from '../sys/files.js';
import type { VpnAdguard } from '../config/types.js';

/**
 * Subcommands whose result is bound to the machine the client sees: its login session is tied to
 * the MAC address and the hostname (public record: a new MAC forces a new login). They run inside
 * the namespace, where the MAC is the veth's stable one (src/net/mac.ts), so a login here is the
 * login every `up` (and every reboot) finds.
 */
const BOUND_TO_MACHINE = new Set(['login', 'logout', 'license', 'connect', 'status', 'disconnect']);

export const adguardCommand: Command = {
  name: 'adguard',
  usage: `vpnns adguard SUBCOMMAND [ARGS...]     e.g. vpnns adguard login, vpnns adguard list-locations 10

Runs adguardvpn-cli as root with the HOME vpnns gives it, inside the namespace as the VPN client
(its cgroup and group, so the kill switch lets it reach AdGuard). The login session is bound to the
machine's MAC address and hostname: login, logout, license and status run in the namespace, where
the MAC is the same on every \`up\`; when the namespace is down, vpnns brings up its network (no VPN)
for the command and takes it down again. Other subcommands (list-locations, config) run on the host.`,
  async run(args, io) {
    requireRoot('adguard');
    const cfg = await configFrom(args);
    if (cfg.vpn.type !== 'adguard') throw new UsageError('vpn.type is not adguard in the config; set `vpn: {type: adguard}` first.');
    const sub = [...args.positional, ...args.rest];
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
      return spawnForeground({ argv, env }, io);
    }
    const cg = clientCgroup(names.ns);
    const inside = async (): Promise<number> => {
      if (cg) await ensureClientCgroup(sys, cg);
      const argv = fullArgv({ name: 'adguard', netns: names.ns, gid: CLIENT_GID, cgroup: cg?.dir, argv: [bin, ...sub] });
      return spawnForeground({ argv, env }, io);
    };
    if (isUp) return inside();
    // Down: the namespace's network without the VPN (the kill switch lets only the client out),
    // for this command alone, then down again whatever happens (a cancelled login included).
    io.err(`vpnns: namespace ${names.ns} is down: bringing up its network (no VPN) for \`adguardvpn-cli ${sub[0]}\`, then down again.`);
    await up(cfg, { sys, say: () => {}, noSupervisor: true });
    try {
      return await inside();
    } finally {
      if (cg) await killCgroup(sys, cg);
      await down(cfg, { sys, say: () => {} });
    }
  },
};
