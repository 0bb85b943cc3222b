import { spawnForeground } from './exec.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { UsageError } from '../errors.js';
import { namesFor } from '../core/names.js';
import { adguardEnv, adguardHome } from '../vpn/adguard.js';
import { findTool } from '../sys/tools.js';
import { netnsExists } from '../net/ip.js';
import { System } from '../sys/system.js';
import { makeDir } from '../sys/files.js';
import type { VpnAdguard } from '../config/types.js';

export const adguardCommand: Command = {
  name: 'adguard',
  usage: `vpnns adguard SUBCOMMAND [ARGS...]     e.g. vpnns adguard login, vpnns adguard list-locations 10

Runs adguardvpn-cli as root with the HOME vpnns gives it, inside the namespace when it is up (so
nothing it does reaches the host's network), else on the host (login needs a browser link only).`,
  async run(args, io) {
    requireRoot('adguard');
    const cfg = await configFrom(args);
    if (cfg.vpn.type !== 'adguard') throw new UsageError('vpn.type is not adguard in the config; set `vpn: {type: adguard}` first.');
    const sub = [...args.positional, ...args.rest];
    if (!sub.length) throw new UsageError('which subcommand? e.g. `vpnns adguard login` or `vpnns adguard status`.');
    const vpn = cfg.vpn as VpnAdguard;
    const bin = await findTool(vpn.binary);
    if (!bin) throw new UsageError(`${vpn.binary} is not installed; install AdGuard VPN CLI or set vpn.binary to its path.`);
    const home = adguardHome({ cfg });
    await makeDir(home, 0o700);
    const ns = namesFor(cfg).ns;
    const inside = await netnsExists(new System(false), ns);
    const argv = inside ? ['/usr/sbin/ip', 'netns', 'exec', ns, bin, ...sub] : [bin, ...sub];
    // A root client: a clean environment with its HOME, never the caller's (LD_PRELOAD, NODE_OPTIONS).
    return spawnForeground({ argv, env: adguardEnv(home, process.env, true) }, io);
  },
};
