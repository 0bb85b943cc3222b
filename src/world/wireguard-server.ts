// The VPN provider's WireGuard server: wireguard-go in the vsrv namespace.
// Interface names are machine-wide unique (derived from the world prefix)
// because wireguard-go's control socket lives in the global
// /var/run/wireguard, whatever the namespace.
import { readFile } from 'node:fs/promises';
import { socketAnswers } from '../vpn/wireguard.js';
import { removePathSync } from '../sys/files.js';
import { join } from 'node:path';
import { Daemon, type PidSet } from './daemon.js';
import { hostInNet, prefixLenOf } from './options.js';
import { writeSecret, type WgKeyPair } from './pki.js';
import { runOk, waitFor } from './run.js';

export interface WgClient {
  keys: WgKeyPair;
  address: string;
}

export interface WgServerSpec {
  ns: string;
  ifname: string;
  port: number;
  net: string; // e.g. 10.66.0.0/24; server .1, clients .2, .3, ...
  keys: WgKeyPair;
  clients: WgClient[];
  dir: string;
}

export function planWgServer(o: { ns: string; prefix: string; port: number; net: string; clients: number; dir: string }, keys: () => WgKeyPair): WgServerSpec {
  return {
    ns: o.ns,
    ifname: `${o.prefix}wgs`,
    port: o.port,
    net: o.net,
    keys: keys(),
    clients: Array.from({ length: o.clients }, (_, i) => ({ keys: keys(), address: hostInNet(o.net, i + 2) })),
    dir: o.dir,
  };
}

/** `wg setconf` format (not wg-quick): keys, port, one peer per client. */
export function renderWgServerConf(s: WgServerSpec): string {
  const peers = s.clients.map((c) => `\n[Peer]\nPublicKey = ${c.keys.publicKey}\nAllowedIPs = ${c.address}/32\n`);
  return `[Interface]\nPrivateKey = ${s.keys.privateKey}\nListenPort = ${s.port}\n${peers.join('')}`;
}

export interface WgClientConfigOptions {
  /** Which provisioned client (0-based); default 0. */
  client?: number;
  /** Endpoint host: an address or a name such as vpn.<zone>; default the server's public address. */
  endpointHost?: string;
  port?: number;
  /** DNS servers; [] omits the DNS line. Default: the provider's resolver. */
  dns?: string[];
  allowedIPs?: string[];
  /** 0 omits PersistentKeepalive. Default 25. */
  persistentKeepalive?: number;
  mtu?: number;
}

/** A wg-quick client config, as a provider would hand it out. */
export function renderWgClientConf(s: WgServerSpec, defaults: { endpointHost: string; dns: string }, o: WgClientConfigOptions = {}): string {
  const i = o.client ?? 0;
  const c = s.clients[i];
  if (!c) throw new Error(`no WireGuard client ${i}: the world has ${s.clients.length} (option wireguard.clients)`);
  const dns = o.dns ?? [defaults.dns];
  const keepalive = o.persistentKeepalive ?? 25;
  const lines = [
    '[Interface]',
    `PrivateKey = ${c.keys.privateKey}`,
    `Address = ${c.address}/32`,
    ...(dns.length ? [`DNS = ${dns.join(', ')}`] : []),
    ...(o.mtu ? [`MTU = ${o.mtu}`] : []),
    '',
    '[Peer]',
    `PublicKey = ${s.keys.publicKey}`,
    `Endpoint = ${o.endpointHost ?? defaults.endpointHost}:${o.port ?? s.port}`,
    `AllowedIPs = ${(o.allowedIPs ?? ['0.0.0.0/0', '::/0']).join(', ')}`,
    ...(keepalive ? [`PersistentKeepalive = ${keepalive}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}

export class WireguardServer {
  private daemon: Daemon | undefined;
  readonly logFile: string;
  private readonly confFile: string;

  constructor(readonly spec: WgServerSpec, private readonly pids: PidSet) {
    this.logFile = join(spec.dir, 'wireguard-server.log');
    this.confFile = join(spec.dir, 'wireguard-server.conf');
  }

  get socket(): string {
    return `/var/run/wireguard/${this.spec.ifname}.sock`;
  }

  pid(): number | undefined {
    return this.daemon?.pid;
  }

  async start(): Promise<void> {
    if (this.daemon?.running) return;
    const { ns, ifname } = this.spec;
    await writeSecret(this.confFile, renderWgServerConf(this.spec));
    // A socket left by a killed process would make `wg` talk to nobody.
    removePathSync(this.socket);
    const d = Daemon.start(ns, ['wireguard-go', ifname], this.pids, {
      logFile: this.logFile,
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' },
    });
    this.daemon = d;
    await waitFor(`wireguard-go ${ifname} to accept its configuration`, async () => {
      if (!d.running) {
        const log = (await readFile(this.logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' | ');
        throw new Error(`wireguard-go exited: ${log || 'no output'}`);
      }
      // Not `wg` until the socket answers: `wg` unlinks a socket that refuses, and one caught
      // between wireguard-go's bind() and listen() makes wireguard-go exit.
      if (!(await socketAnswers(this.socket))) return false;
      return (await runOk(['ip', 'netns', 'exec', ns, 'wg', 'setconf', ifname, this.confFile])).code === 0;
    }, 5000, 20);
    const server = hostInNet(this.spec.net, 1);
    await runOk(['ip', '-n', ns, '-batch', '-'], {
      input: `addr add ${server}/${prefixLenOf(this.spec.net)} dev ${ifname}\nlink set ${ifname} up\n`,
    });
  }

  async stop(): Promise<void> {
    const d = this.daemon;
    this.daemon = undefined;
    if (d) await d.stop();
    removePathSync(this.socket);
  }

  async show(): Promise<string> {
    return (await runOk(['ip', 'netns', 'exec', this.spec.ns, 'wg', 'show', this.spec.ifname])).stdout;
  }
}
