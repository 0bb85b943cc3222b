// Leak judging shared by the e2e suites: a capture on the world's side of the host's uplink, and
// the rule that every packet from the host's public addresses must be explicitly allowed.
//
// Host-originated vs forwarded: the host's own packets reach the wan side with the initial TTL
// (64, Linux's default), while packets from the VPN namespace were routed once by the host and
// arrive with 63. So a capture can keep the host's legitimate traffic (vpnns's own host-side
// probe, `up` resolving the VPN endpoint) apart from anything that escaped the namespace.
import type { World } from '../../src/world/world.js';
import type { Capture } from '../../src/world/capture.js';

/** Linux's default initial TTL (net.ipv4.ip_default_ttl) in the world's host namespace. */
export const HOST_TTL = 64;

export type Origin = 'any' | 'forwarded' | 'host';

/**
 * tcpdump filter for packets from the host's public addresses, minus the host kernel's IPv6
 * neighbour discovery. `forwarded`: only what the host routed (TTL != 64, and all IPv6, which
 * the host itself does not originate in these tests); `host`: only the host's own IPv4.
 */
export function uplinkFilter(w: World, origin: Origin = 'any'): string {
  const v4 = `ip and src host ${w.addr.hostPublic}`;
  const v6 = `ip6 and src host ${w.addr.hostPublic6} and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)`;
  if (origin === 'host') return `${v4} and ip[8] = ${HOST_TTL}`;
  if (origin === 'forwarded') return `(${v4} and ip[8] != ${HOST_TTL}) or (${v6})`;
  return `(${v4}) or (${v6})`;
}

export function startUplinkCapture(w: World, origin: Origin = 'any'): Promise<Capture> {
  return w.capture(w.ns.wan, w.wanIface, uplinkFilter(w, origin));
}

/** Captured lines that no rule allows. */
export function unexpected(lines: string[], allowed: (line: string) => boolean): string[] {
  return lines.filter((l) => !allowed(l));
}

const dots = (ip: string) => ip.replaceAll('.', '\\.');

/** A tcpdump -n line of the host's UDP flow to the WireGuard server (the tunnel itself). */
export function isWireguardFlow(line: string, w: World): boolean {
  return new RegExp(`^\\S+ IP ${dots(w.addr.hostPublic)}\\.\\d+ > ${dots(w.addr.vpnPublic)}\\.${w.wireguard!.port}: UDP`).test(line);
}

/** A tcpdump -n line from the host to `ip`:`port` (TCP or UDP). */
export function isHostTo(line: string, w: World, ip: string, port: number): boolean {
  return new RegExp(`^\\S+ IP ${dots(w.addr.hostPublic)}\\.\\d+ > ${dots(ip)}\\.${port}: `).test(line);
}

/**
 * Sends to a VPN server's endpoint from inside, as whoever runs it: 5 UDP datagrams, or a TCP
 * connect plus one write, from source port SPORT, each payload starting with "vpnnsprobe". With
 * MARK > 0 it first tries SO_MARK (needs CAP_NET_ADMIN over the namespace). Prints JSON:
 * {"mark": "set" | "EPERM" | ..., "udpSent": N, "tcp": "connected" | errno name}.
 * Python because Node cannot set SO_MARK; a constant script, its inputs are argv.
 *   python3 -c ENDPOINT_PROBE_PY IP PORT udp|tcp SPORT MARK
 */
export const ENDPOINT_PROBE_PY = `
import errno, json, socket, sys
ip, port, proto, sport, mark = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
fam = socket.AF_INET6 if ':' in ip else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM if proto == 'udp' else socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
out = {}
def name(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__
if mark:
    try:
        s.setsockopt(socket.SOL_SOCKET, 36, mark)
        out['mark'] = 'set'
    except OSError as e:
        out['mark'] = name(e)
s.bind(('', sport))
s.settimeout(2)
payload = b'vpnnsprobe' * 4
if proto == 'udp':
    n = 0
    for i in range(5):
        try:
            s.sendto(payload, (ip, port))
            n += 1
        except OSError as e:
            out['udpError'] = name(e)
    out['udpSent'] = n
else:
    try:
        s.connect((ip, port))
        s.sendall(payload)
        out['tcp'] = 'connected'
    except OSError as e:
        out['tcp'] = name(e)
s.close()
print(json.dumps(out))
`;

/** "vpnnsprobe" starts with these 4 bytes: a tcpdump match on payloads from ENDPOINT_PROBE_PY. */
const PROBE_MAGIC = '0x76706e6e';

/**
 * tcpdump filter for what ENDPOINT_PROBE_PY sends, as it leaves the host: packets to the endpoint
 * from source port `sport` (masquerade keeps a free port), or with its payload (any port).
 */
export function endpointProbeFilter(w: World, ip: string, port: number, sport: number): string {
  return (
    `ip and src host ${w.addr.hostPublic} and dst host ${ip} and dst port ${port} and ` +
    `(src port ${sport} or (udp and udp[8:4] = ${PROBE_MAGIC}) or (tcp and tcp[((tcp[12:1] & 0xf0) >> 2):4] = ${PROBE_MAGIC}))`
  );
}
