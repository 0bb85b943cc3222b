// How the VPN client's own packets are told apart from everything else inside: the contract
// between a provider (which says what its client sends), the kill switch and the allow routes
// (which let exactly that out) and `check` (which judges a capture by it).
import type { ClientCgroup } from '../sys/client-cgroup.js';

/**
 * Who sent a packet: a property only the VPN client's sockets can have. A destination alone is not
 * enough (any process inside could send to the server from the host's real address, outside the
 * tunnel), so every rule that lets something out of the veth names its sender.
 * - mark: the client sets SO_MARK on its sockets (WireGuard FwMark, OpenVPN --mark); that needs
 *   CAP_NET_ADMIN over the namespace, which nothing inside but vpnns's own root processes has.
 * - gid: the client runs as root with a group no one else has (setpriv --regid --clear-groups);
 *   matched together with uid 0, so a setgid file of that group would not be enough either.
 * - cgroup: the client runs in a cgroup v2 of vpnns's (src/vpn/client-cgroup.ts); whatever it
 *   becomes (sudo, another group, a forked daemon) its sockets are that cgroup's, and only root
 *   can move a process into it.
 */
export type ClientSender = { mark: number } | { gid: number };

/** How the VPN client's own packets (to its server) are recognised on the veth. */
export type ClientTraffic =
  | { kind: 'endpoint'; ip: string; port: number; proto: 'udp' | 'tcp'; sender: ClientSender }
  | { kind: 'gid'; gid: number }
  | { kind: 'mark'; mark: number }
  | { kind: 'cgroup'; cgroup: ClientCgroup };

