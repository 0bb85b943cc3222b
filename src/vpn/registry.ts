import type { VpnConfig } from '../config/types.js';
import type { VpnProvider } from './provider.js';
import { wireguardProvider } from './wireguard.js';
import { openvpnProvider } from './openvpn.js';
import { adguardProvider } from './adguard.js';
import { commandProvider } from './command.js';

export function providerFor(vpn: VpnConfig): VpnProvider {
  switch (vpn.type) {
    case 'wireguard':
      return wireguardProvider;
    case 'openvpn':
      return openvpnProvider;
    case 'adguard':
      return adguardProvider;
    case 'command':
      return commandProvider;
    case 'none':
      throw new Error('no VPN provider for type none');
  }
}
