import { existsSync } from 'node:fs';
import { requireRoot, type Command } from './command.js';
import { worldMissingMessage, WORLD_JS, APP_HOST_PORT } from '../demo/session.js';
import { runDemo } from '../demo/run.js';

export const demoCommand: Command = {
  name: 'demo',
  usage: `vpnns demo

Builds a small simulated internet out of network namespaces (an echo service, an ISP resolver and a
WireGuard VPN provider; the same one the end-to-end tests use), runs \`vpnns up\` with WireGuard
against it from a simulated "host" namespace, and shows:
  - a request from the host (the host's address) next to one from inside (the VPN's address),
  - \`vpnns check\`'s table,
  - the SOCKS5 and HTTP proxies used from the host,
  - an app inside the namespace answering on the host's 127.0.0.1:${APP_HOST_PORT},
then runs \`vpnns down\` and removes the simulated internet. Ctrl-C (or SIGTERM) at any point stops
and removes everything; a second Ctrl-C does not skip that. Nothing touches this machine's own
network: the demo's namespaces are named vdXXXX-* and everything runs inside them.

Needs root, and the Debian packages scripts/bootstrap installs (wireguard-go, iproute2, nftables…).
Exit code 0 when every step worked, 1 otherwise (the failing step is named), 130 when interrupted.`,
  async run(_args, io) {
    requireRoot('demo');
    if (!existsSync(WORLD_JS)) {
      io.err(`vpnns: ${worldMissingMessage()}`);
      return 1;
    }
    return runDemo(io);
  },
};
