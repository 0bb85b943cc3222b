import { configFrom, requireRoot, type Command } from './command.js';
import { down, up } from '../plan/engine.js';
import { runAdguard } from '../vpn/adguard-session.js';

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
    return runAdguard(cfg, [...args.positional, ...args.rest], {
      up: (sys) => up(cfg, { sys, say: () => {}, noSupervisor: true }),
      down: (sys) => down(cfg, { sys, say: () => {} }),
      err: (line) => io.err(line),
    });
  },
};
