// The adguard provider against an EMULATOR of AdGuard VPN CLI (the real client is closed source and
// cannot be installed here). The emulator mimics its command line and drives a real WireGuard tunnel
// underneath (test/adguard-emulator/README.md), so kill switch and DNS are tested for real.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REPO } from './harness.js';
import { vpnSuite } from './vpn-suite.js';
import { isWireguardFlow } from './leak.js';

const EMULATOR = join(REPO, 'test', 'adguard-emulator', 'adguardvpn-cli');

vpnSuite({
  label: 'AdGuard VPN CLI EMULATOR (not the real client)',
  worldOptions: { openvpn: false },
  env: (w) => ({ ADGUARD_EMULATOR_WG: join(w.dir, 'adguard-wg.conf') }),
  async config(w) {
    await w.wireguard!.writeClientConfig(join(w.dir, 'adguard-wg.conf'));
    return { vpn: { type: 'adguard', binary: EMULATOR, location: 'Frankfurt', home: join(w.dir, 'adguard-home'), connectTimeout: 15 } };
  },
  async beforeUp(h, cfg) {
    // `vpnns adguard login` passes through to the client with vpnns's HOME for it: log in once.
    const r = await h.vpnns(['adguard', 'login', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
  },
  egress: (w) => w.addr.vpnPublic,
  // AdGuard intercepts DNS inside its tunnel; vpnns keeps a public resolver in resolv.conf for it.
  resolver: () => '1.1.1.1',
  isClientFlow: isWireguardFlow,
  clientPid: (s) => s.components.vpn?.pid,
  endpoint: (w) => ({ ip: w.addr.vpnPublic, port: w.wireguard!.port, proto: 'udp' }),
  clientIdentity: 'group',
});
