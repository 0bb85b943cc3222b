// Every file, directory and program a config names that root will read, write into or run, held to
// trust.ts's rule when vpnns runs as root: checked once, at load, so a bad one fails with exit 2
// before anything is made. The readers check again when they read (readTrustedFile), and paths a
// VPN file names (an .ovpn's ca/cert/key) are checked where that file is parsed.
import { LIB_DIR } from './paths.js';
import { assertTrustedDirectory, assertTrustedFile, assertTrustedProgram, trustRequired } from './trust.js';
import type { Config } from './types.js';

export function assertTrustedInputs(cfg: Config, opts: { cwd?: string; file?: string } = {}): void {
  if (!trustRequired()) return;
  const { cwd, file } = opts;
  // Root creates the daemons' logs there and hands one to `nobody` (tinyproxy): a user's directory
  // would let its owner point them at any file with a symbolic link.
  assertTrustedDirectory(`${cfg.logDir}/${cfg.namespace}`, 'logDir', { file, place: '/var/log/vpnns' });
  const vpn = cfg.vpn;
  switch (vpn.type) {
    case 'wireguard':
      assertTrustedFile(vpn.config, 'vpn.config', { allowMissing: true, file });
      break;
    case 'openvpn':
      assertTrustedFile(vpn.config, 'vpn.config', { allowMissing: true, file });
      if (vpn.auth !== undefined) assertTrustedFile(vpn.auth, 'vpn.auth', { allowMissing: true, file });
      break;
    case 'adguard':
      // Root runs the binary, and the binary keeps its login and settings in home.
      assertTrustedProgram(vpn.binary, 'vpn.binary', { cwd, file });
      if (vpn.home !== undefined) assertTrustedDirectory(vpn.home, 'vpn.home', { file, place: LIB_DIR });
      break;
    case 'command': {
      // `ip netns exec` runs these as root.
      assertTrustedProgram(vpn.start[0]!, 'vpn.start[0]', { cwd, file });
      const stop = vpn.stop?.[0];
      if (stop !== undefined) assertTrustedProgram(stop, 'vpn.stop[0]', { cwd, file });
      break;
    }
    case 'none':
      break;
  }
}
