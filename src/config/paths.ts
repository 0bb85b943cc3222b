// Fixed places on the host that vpnns owns. Constants on purpose, never read from the environment
// or a config file: whoever could choose them would choose where root keeps and reads its data.

/**
 * What outlives `down` and reboots, per namespace under `<LIB_DIR>/<ns>/`: the apps' data and
 * passwords (services/apps.ts), AdGuard VPN CLI's login (vpn/adguard.ts). Unlike /run/vpnns.
 */
export const LIB_DIR = '/var/lib/vpnns';

/**
 * Where root finds the programs it runs (ip, nft, openvpn, ...), whatever PATH it was started with:
 * a PATH with `.`, an empty entry or a directory a user can write would let that user's `ip` run as root.
 */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
