// The HTTP proxy: Tinyproxy inside the namespace, listening on the namespace's veth address.
// Unlike Dante it cannot be pinned to the tunnel; it follows the namespace's routing table, so it
// relies on the kill switch to fail closed, and the supervisor runs it only while the tunnel is up.

export const TINYPROXY = '/usr/bin/tinyproxy';

export interface TinyproxyConfOptions {
  /** The namespace's own address (the veth end inside the namespace). */
  listen: string;
  port: number;
  /** Client addresses or CIDRs allowed to use the proxy (the host end). */
  allowFrom: string[];
  /** Must exist and be writable by `user` before tinyproxy starts: it opens it after dropping root. */
  logFile: string;
  pidFile?: string;
  user: 'nobody';
  group: 'nogroup';
  maxClients?: number;
  /** Idle seconds before a connection is closed. */
  timeout?: number;
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;
const PATH = /^\/[^\s"\\#]*$/;

function check(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new Error(`tinyproxy: invalid ${what}: ${JSON.stringify(value)}`);
}

function allowEntry(addr: string): string {
  const [ip, prefix, ...rest] = addr.split('/');
  const p = prefix === undefined ? 32 : Number(prefix);
  check(!rest.length && IPV4.test(ip!) && (prefix === undefined || /^\d{1,2}$/.test(prefix)) && p <= 32 && p > 0, 'address to allow (not /0)', addr);
  return p === 32 ? ip! : `${ip}/${p}`;
}

export function renderTinyproxyConf(opts: TinyproxyConfOptions): string {
  // 0.0.0.0 would serve every interface, including the tunnel.
  check(IPV4.test(opts.listen) && opts.listen !== '0.0.0.0', 'listen address', opts.listen);
  check(Number.isInteger(opts.port) && opts.port >= 1 && opts.port <= 65535, 'port', opts.port);
  check(PATH.test(opts.logFile), 'log file', opts.logFile);
  if (opts.pidFile !== undefined) check(PATH.test(opts.pidFile), 'pid file', opts.pidFile);
  // Without an Allow line tinyproxy serves everyone.
  check(opts.allowFrom.length > 0, 'allowFrom (empty would allow everyone)', opts.allowFrom);
  const maxClients = opts.maxClients ?? 100;
  const timeout = opts.timeout ?? 600;
  check(Number.isInteger(maxClients) && maxClients > 0, 'maxClients', maxClients);
  check(Number.isInteger(timeout) && timeout > 0, 'timeout', timeout);
  const lines = [
    '# Written by vpnns on every start; edits are lost.',
    `User ${opts.user}`,
    `Group ${opts.group}`,
    `Port ${opts.port}`,
    // Listen pins the listening socket; without it tinyproxy binds every address.
    `Listen ${opts.listen}`,
    `Timeout ${timeout}`,
    `MaxClients ${maxClients}`,
    ...[...new Set(opts.allowFrom.map(allowEntry))].map((a) => `Allow ${a}`),
    // Do not tell the far side a proxy is there, nor which client asked (X-Tinyproxy carries its IP).
    'DisableViaHeader Yes',
    'XTinyproxy No',
    // No ConnectPort lines: CONNECT to any port, as a general-purpose proxy for host programs.
    'Syslog Off',
    `LogFile "${opts.logFile}"`,
    'LogLevel Notice',
  ];
  if (opts.pidFile) lines.push(`PidFile "${opts.pidFile}"`);
  return lines.join('\n') + '\n';
}

/** `-d`: stay in the foreground, so the supervisor (or systemd) owns the process. */
export function tinyproxyArgv(conf: string): string[] {
  return [TINYPROXY, '-d', '-c', conf];
}
