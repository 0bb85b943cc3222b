import { vpnSuite, assertOpenvpnLeastPrivilege } from './vpn-suite.js';
import { isHostTo } from './leak.js';

// Another server shape: OpenVPN over TCP on 443, reached by a hostname endpoint.
vpnSuite({
  label: 'OpenVPN (TCP 443, hostname endpoint)',
  worldOptions: { wireguard: false, openvpn: { proto: 'tcp', port: 443 } },
  async config(w) {
    const file = await w.openvpn!.writeClientConfig(undefined, { endpointHost: w.names.vpn });
    return { vpn: { type: 'openvpn', config: file, connectTimeout: 15, resolveWith: [w.addr.ispResolver] } };
  },
  egress: (w) => w.addr.ovpnPublic,
  resolver: (w) => w.addr.ovpnResolver,
  isClientFlow: (l, w) => isHostTo(l, w, w.addr.vpnPublic, 443),
  clientPid: (s) => s.components.vpn?.pid,
  checkClient: async (pid) => assertOpenvpnLeastPrivilege(pid),
  endpoint: (w) => ({ ip: w.addr.vpnPublic, port: 443, proto: 'tcp' }),
  clientIdentity: 'mark',
});
