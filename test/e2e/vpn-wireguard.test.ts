import { vpnSuite } from './vpn-suite.js';

vpnSuite({
  label: 'WireGuard (wireguard-go)',
  worldOptions: { openvpn: false },
  async config(w) {
    // A hostname endpoint: vpnns resolves it on the host (with the ISP resolver) before locking down.
    const file = await w.wireguard!.writeClientConfig(undefined, { endpointHost: w.names.vpn });
    return { vpn: { type: 'wireguard', config: file, connectTimeout: 10, resolveWith: [w.addr.ispResolver] } };
  },
  egress: (w) => w.addr.vpnPublic,
  resolver: (w) => w.addr.vpnResolver,
  isClientFlow: (l, w) => new RegExp(`^\\S+ IP ${w.addr.hostPublic.replaceAll('.', '\\.')}\\.\\d+ > ${w.addr.vpnPublic.replaceAll('.', '\\.')}\\.${w.wireguard!.port}: UDP`).test(l),
  clientPid: (s) => s.components.vpn?.pid,
});
