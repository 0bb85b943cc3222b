// The VPN provider's OpenVPN 2.6 server (TLS mode, per-run EC PKI) in the
// vsrv namespace, and the .ovpn profile a user would download from it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, logSize, waitForLog, type PidSet } from './daemon.js';
import { hostInNet, netmaskOf } from './options.js';
import type { CertFiles } from './pki.js';

export interface OvpnServerSpec {
  ns: string;
  ifname: string;
  proto: 'udp' | 'tcp';
  port: number;
  net: string; // e.g. 10.67.0.0/24
  ca: string;
  server: CertFiles;
  client: CertFiles;
  dir: string;
}

export function renderOvpnServerConf(s: OvpnServerSpec): string {
  const [network = ''] = s.net.split('/');
  return [
    `dev ${s.ifname}`,
    'dev-type tun', // needed because the name does not start with "tun"
    `proto ${s.proto === 'tcp' ? 'tcp-server' : 'udp'}`,
    `port ${s.port}`,
    'topology subnet',
    `server ${network} ${netmaskOf(s.net)}`,
    `ca ${s.ca}`,
    `cert ${s.server.cert}`,
    `key ${s.server.key}`,
    'dh none', // ECDHE only: no slow DH parameter generation
    'remote-cert-tls client',
    // Several test clients may share the one client certificate.
    'duplicate-cn',
    'push "redirect-gateway def1"',
    `push "dhcp-option DNS ${hostInNet(s.net, 1)}"`,
    'keepalive 5 30',
    'disable-dco', // no DCO module here; skip the probe
    'verb 3',
    '',
  ].join('\n');
}

export interface OvpnClientConfigOptions {
  /** Address or name of the server; default its public address. */
  endpointHost?: string;
  port?: number;
  proto?: 'udp' | 'tcp';
  /** Add `disable-dco` (harmless; off by default so clients see a stock profile). */
  disableDco?: boolean;
  /** Extra directives appended before the inline blocks. */
  extra?: string[];
}

export function renderOvpnClientConf(s: OvpnServerSpec, defaults: { endpointHost: string }, o: OvpnClientConfigOptions = {}): string {
  const proto = o.proto ?? s.proto;
  const pem = (p: string): string => readFileSync(p, 'utf8').trim();
  return [
    'client',
    'dev tun',
    `remote ${o.endpointHost ?? defaults.endpointHost} ${o.port ?? s.port} ${proto}`,
    'nobind',
    'remote-cert-tls server',
    'verb 3',
    ...(o.disableDco ? ['disable-dco'] : []),
    ...(o.extra ?? []),
    `<ca>\n${pem(s.ca)}\n</ca>`,
    `<cert>\n${pem(s.client.cert)}\n</cert>`,
    `<key>\n${pem(s.client.key)}\n</key>`,
    '',
  ].join('\n');
}

export class OpenvpnServer {
  private daemon: Daemon | undefined;
  readonly logFile: string;
  readonly confFile: string;

  constructor(readonly spec: OvpnServerSpec, private readonly pids: PidSet) {
    this.logFile = join(spec.dir, 'openvpn-server.log');
    this.confFile = join(spec.dir, 'openvpn-server.conf');
  }

  pid(): number | undefined {
    return this.daemon?.pid;
  }

  async start(writeConf: (path: string, text: string) => Promise<unknown>): Promise<void> {
    if (this.daemon?.running) return;
    await writeConf(this.confFile, renderOvpnServerConf(this.spec));
    const from = logSize(this.logFile);
    const d = Daemon.start(this.spec.ns, ['openvpn', '--config', this.confFile], this.pids, { logFile: this.logFile });
    this.daemon = d;
    await waitForLog(d, this.logFile, from, 'Initialization Sequence Completed', 10000, 'openvpn server');
  }

  async stop(): Promise<void> {
    const d = this.daemon;
    this.daemon = undefined;
    if (d) await d.stop();
  }
}
