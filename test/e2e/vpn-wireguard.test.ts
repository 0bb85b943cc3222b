import { vpnSuite } from './vpn-suite.js';
import { isWireguardFlow } from './leak.js';

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
  isClientFlow: isWireguardFlow,
  clientPid: (s) => s.components.vpn?.pid,
  endpoint: (w) => ({ ip: w.addr.vpnPublic, port: w.wireguard!.port, proto: 'udp' }),
  clientIdentity: 'mark',
});
