import { vpnSuite, assertOpenvpnLeastPrivilege } from './vpn-suite.js';
import { isHostTo } from './leak.js';

vpnSuite({
  label: 'OpenVPN (UDP)',
  worldOptions: { wireguard: false },
  async config(w) {
    const file = await w.openvpn!.writeClientConfig(undefined, { endpointHost: w.names.vpn });
    return { vpn: { type: 'openvpn', config: file, connectTimeout: 15, resolveWith: [w.addr.ispResolver] } };
  },
  egress: (w) => w.addr.ovpnPublic,
  resolver: (w) => w.addr.ovpnResolver,
  isClientFlow: (l, w) => isHostTo(l, w, w.addr.vpnPublic, w.openvpn!.port),
  clientPid: (s) => s.components.vpn?.pid,
  checkClient: async (pid) => assertOpenvpnLeastPrivilege(pid),
  endpoint: (w) => ({ ip: w.addr.vpnPublic, port: w.openvpn!.port, proto: w.openvpn!.proto }),
  clientIdentity: 'mark',
});
