import { vpnSuite } from './vpn-suite.js';

vpnSuite({
  label: 'OpenVPN (UDP)',
  worldOptions: { wireguard: false },
  async config(w) {
    const file = await w.openvpn!.writeClientConfig(undefined, { endpointHost: w.names.vpn });
    return { vpn: { type: 'openvpn', config: file, connectTimeout: 15, resolveWith: [w.addr.ispResolver] } };
  },
  egress: (w) => w.addr.ovpnPublic,
  resolver: (w) => w.addr.ovpnResolver,
  isClientFlow: (l, w) => new RegExp(`^\\S+ IP ${w.addr.hostPublic.replaceAll('.', '\\.')}\\.\\d+ > ${w.addr.vpnPublic.replaceAll('.', '\\.')}\\.${w.openvpn!.port}: `).test(l),
  clientPid: (s) => s.components.vpn?.pid,
});
