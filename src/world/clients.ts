// Hand-made VPN clients inside scratch namespaces of a world: the reference
// against which vpnns is compared, and the proof that the servers work.
// Scratch namespaces are named "<prefix>-<name>", so world teardown removes
// them and everything running in them.
import { socketAnswers } from '../vpn/wireguard.js';
import { replaceFile } from '../sys/files.js';
import { join } from 'node:path';
import { Daemon, logSize, PidSet, waitForLog } from './daemon.js';
import { writeSecret } from './pki.js';
import { runOk, waitFor } from './run.js';
import type { World } from './world.js';

export interface ScratchNamespace {
  ns: string;
  address: string;
  gateway: string;
}

/**
 * A namespace hanging off `parent` on 172.31.<index>.0/30. Behind the host it
 * is NATed to the host's uplink (this turns on forwarding in the host
 * namespace); behind wan it is just another user of the internet.
 */
export async function addScratchNamespace(w: World, o: { name: string; parent: 'host' | 'wan'; index: number }): Promise<ScratchNamespace> {
  const ns = `${w.prefix}-${o.name}`;
  if (ns.length > 15) throw new Error(`scratch namespace name ${ns} is longer than 15 characters`);
  const parentNs = w.ns[o.parent];
  const peer = `s-${o.name}`;
  const gateway = `172.31.${o.index}.1`;
  const address = `172.31.${o.index}.2`;
  await runOk(['ip', 'netns', 'add', ns]);
  await runOk(['ip', '-n', parentNs, '-batch', '-'], {
    input: [`link add ${peer} type veth peer name eth0 netns ${ns}`, `addr add ${gateway}/30 dev ${peer}`, `link set ${peer} up`, ''].join('\n'),
  });
  await runOk(['ip', '-n', ns, '-batch', '-'], {
    input: ['link set lo up', `addr add ${address}/30 dev eth0`, 'link set eth0 up', `route add default via ${gateway}`, ''].join('\n'),
  });
  // ip netns exec users in here (e.g. a client resolving vpn.<zone>) ask the ISP resolver.
  await replaceFile(join('/etc/netns', ns, 'resolv.conf'), `nameserver ${w.addr.ispResolver}\n`, 0o644);
  if (o.parent === 'host') {
    await runOk(['ip', 'netns', 'exec', parentNs, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await runOk(['ip', 'netns', 'exec', parentNs, 'nft', '-f', '-'], {
      input: `add table ip world_scratch\nflush table ip world_scratch\ntable ip world_scratch {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip saddr 172.31.0.0/16 oifname "${w.hostIface}" masquerade\n\t}\n}\n`,
    });
  }
  return { ns, address, gateway };
}

export interface RunningClient {
  ifname: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/** wg-quick text -> `wg setconf` text (what `wg-quick strip` does). */
export function stripWgQuick(conf: string): string {
  return conf
    .split('\n')
    .filter((l) => !/^\s*(Address|DNS|MTU|Table|PreUp|PostUp|PreDown|PostDown|SaveConfig)\s*=/i.test(l))
    .join('\n');
}

/**
 * wireguard-go in `ns` with client `client`'s keys; routes `routes` (default:
 * everything) into the tunnel. The endpoint keeps the scratch default route.
 */
export async function startWireguardClient(w: World, ns: string, o: { client?: number; routes?: string[] } = {}): Promise<RunningClient> {
  if (!w.wireguard) throw new Error('world has no WireGuard server');
  const client = o.client ?? 0;
  const ifname = `${w.prefix}wc${client}`;
  const conf = await writeSecret(join(w.dir, `wg-client${client}.setconf`), stripWgQuick(w.wireguard.clientConfig({ client })));
  const log = join(w.dir, `wg-client${client}.log`);
  const d = Daemon.start(ns, ['wireguard-go', ifname], new PidSet(), {
    logFile: log,
    env: { ...process.env, WG_PROCESS_FOREGROUND: '1' },
  });
  const address = w.wireguard.clientAddresses[client];
  // Endpoint route first (FACTS: otherwise the first handshake is lost).
  await runOk(['ip', '-n', ns, 'route', 'replace', `${w.addr.vpnPublic}/32`, 'via', (await defaultGateway(ns))]);
  // Not `wg` before the socket answers (it would unlink it as stale mid-startup; wireguard-server.ts).
  await waitFor(`client ${ifname}`, async () => (await socketAnswers(`/var/run/wireguard/${ifname}.sock`)) && (await runOk(['ip', 'netns', 'exec', ns, 'wg', 'setconf', ifname, conf])).code === 0, 5000, 20);
  const routes = o.routes ?? ['0.0.0.0/1', '128.0.0.0/1'];
  await runOk(['ip', '-n', ns, '-batch', '-'], {
    input: [`addr add ${address}/32 dev ${ifname}`, `link set ${ifname} up`, ...routes.map((r) => `route add ${r} dev ${ifname}`), ''].join('\n'),
  });
  return { ifname, pid: d.pid, stop: () => d.stop() };
}

/** An OpenVPN client in `ns` with the world's profile; resolves once connected. */
export async function startOpenvpnClient(w: World, ns: string, o: { endpointHost?: string } = {}): Promise<RunningClient> {
  if (!w.openvpn) throw new Error('world has no OpenVPN server');
  const profile = await w.openvpn.writeClientConfig(join(w.dir, `ovpn-${ns}.ovpn`), o.endpointHost ? { endpointHost: o.endpointHost } : {});
  const log = join(w.dir, `ovpn-${ns}.log`);
  const from = logSize(log);
  const d = Daemon.start(ns, ['openvpn', '--config', profile, '--dev', 'tun0'], new PidSet(), { logFile: log });
  await waitForLog(d, log, from, 'Initialization Sequence Completed', 10000, `openvpn client in ${ns}`);
  return { ifname: 'tun0', pid: d.pid, stop: () => d.stop() };
}

async function defaultGateway(ns: string): Promise<string> {
  const r = await runOk(['ip', '-n', ns, '-j', 'route', 'show', 'default']);
  const gw = (JSON.parse(r.stdout) as Array<{ gateway?: string }>)[0]?.gateway;
  if (!gw) throw new Error(`${ns} has no default gateway`);
  return gw;
}
