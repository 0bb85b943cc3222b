// The `command` provider: any client started by a command line that creates a named tunnel. Here
// the command is plain OpenVPN with its server's endpoint given, so the kill switch lets exactly it out.
import { vpnSuite } from './vpn-suite.js';
import { isHostTo } from './leak.js';

vpnSuite({
  label: 'custom command (openvpn run as a command)',
  worldOptions: { wireguard: false },
  async config(w) {
    const file = await w.openvpn!.writeClientConfig();
    return {
      vpn: {
        type: 'command',
        start: ['/usr/sbin/openvpn', '--config', file, '--dev', 'cmdtun0', '--dev-type', 'tun', '--disable-dco', '--verb', '3'],
        interface: 'cmdtun0',
        endpoints: [`${w.addr.vpnPublic}:${w.openvpn!.port}/${w.openvpn!.proto}`],
        dns: [w.addr.ovpnResolver],
        connectTimeout: 15,
      },
    };
  },
  egress: (w) => w.addr.ovpnPublic,
  resolver: (w) => w.addr.ovpnResolver,
  isClientFlow: (l, w) => isHostTo(l, w, w.addr.vpnPublic, w.openvpn!.port),
  clientPid: (s) => s.components.vpn?.pid,
  endpoint: (w) => ({ ip: w.addr.vpnPublic, port: w.openvpn!.port, proto: w.openvpn!.proto }),
  clientIdentity: 'group',
});
