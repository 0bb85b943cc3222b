// Fixed places on the host that vpnns owns. Constants on purpose, never read from the environment
// or a config file: whoever could choose them would choose where root keeps and reads its data.

/**
 * What outlives `down` and reboots, per namespace under `<LIB_DIR>/<ns>/`: the apps' data and
 * passwords (services/apps.ts), AdGuard VPN CLI's login (vpn/adguard.ts). Unlike /run/vpnns.
 */
export const LIB_DIR = '/var/lib/vpnns';
