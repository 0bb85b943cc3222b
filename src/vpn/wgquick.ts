// wg-quick files in, `wg setconf` files out. vpnns does the job of wg-quick itself (addresses,
// routes, DNS inside the namespace), so only the keys `wg` understands reach the tunnel. The keys
// are an allowlist (unknown keys are refused); of the wg-quick-only ones, Table and SaveConfig are
// reported and ignored, and the hooks (PreUp, PostUp, PreDown, PostDown: shell commands wg-quick
// would run as root) are refused with the line: vpnns never runs them, and a user who wrote one
// expects it to run, so saying so beats a warning that scrolls by.

import { formatHostPort, isHostName, isIPv4, isIPv6, ipv6Bytes, ipv6FromBytes, normalizeIp, parseHostPort } from '../config/net-utils.js';
import { didYouMean } from '../config/did-you-mean.js';
import { VpnConfigError } from './errors.js';

export interface WgInterface {
  /** Base64, 44 characters. A secret: never log it. */
  privateKey: string;
  /** Tunnel addresses with their prefix ("10.64.0.2/32", "2001:db8:a::2/128"); a bare address gets /32 or /128. */
  addresses: string[];
  /** DNS entries that are IP addresses. */
  dns: string[];
  /** DNS entries that are names: search domains, as wg-quick treats them. */
  dnsSearch: string[];
  mtu?: number;
  listenPort?: number;
  /** Undefined when absent, 0 or "off". */
  fwMark?: number;
}

export interface WgPeer {
  publicKey: string;
  /** A secret: never log it. */
  presharedKey?: string;
  /** The host may be a name; IPv6 without brackets. */
  endpoint?: { host: string; port: number };
  /** Networks with host bits cleared, as `wg` stores them ("0.0.0.0/0", "2001:db8::/32"). */
  allowedIPs: string[];
  persistentKeepalive?: number;
  /** Line of the `[Peer]` header. */
  line: number;
}

export interface WgIgnoredKey {
  key: string;
  line: number;
}

export interface WgQuickConfig {
  file?: string;
  interface: WgInterface;
  peers: WgPeer[];
  /** wg-quick-only keys that were accepted and not acted on (Table, SaveConfig). */
  ignored: WgIgnoredKey[];
  /** One sentence each, with file and line, for the provider to show. */
  warnings: string[];
}

const INTERFACE_KEYS = ['Address', 'DNS', 'MTU', 'PrivateKey', 'ListenPort', 'FwMark', 'Table', 'PreUp', 'PostUp', 'PreDown', 'PostDown', 'SaveConfig'] as const;
const PEER_KEYS = ['PublicKey', 'PresharedKey', 'Endpoint', 'AllowedIPs', 'PersistentKeepalive'] as const;
/** Keys that may appear several times, their lists adding up (as in wg and wg-quick). */
const LIST_KEYS = new Set(['address', 'dns', 'allowedips', 'preup', 'postup', 'predown', 'postdown']);

const IGNORED_WHY: Record<string, string> = {
  table: 'vpnns installs the routes inside the namespace itself',
  saveconfig: 'vpnns never writes to your config file',
};
const HOOK_WHY =
  'is a shell command wg-quick would run as root, and vpnns runs no command from a VPN file (whoever wrote the file could run anything on this machine); vpnns sets up the addresses, routes, DNS and kill switch itself, so delete the line';

type Section = { kind: 'interface'; line: number } | { kind: 'peer'; line: number; peer: Partial<WgPeer> & { allowedIPs: string[] } };

/** Parses a wg-quick file. Throws VpnConfigError naming the line of the first problem. */
export function parseWgQuick(text: string, file?: string): WgQuickConfig {
  const fail = (line: number | undefined, detail: string): never => {
    throw new VpnConfigError(detail, { file, line });
  };

  const iface: Partial<WgInterface> & { addresses: string[]; dns: string[]; dnsSearch: string[] } = { addresses: [], dns: [], dnsSearch: [] };
  let interfaceLine: number | undefined;
  const peers: WgPeer[] = [];
  const ignored: WgIgnoredKey[] = [];
  const warnings: string[] = [];
  const at = (line: number) => (file !== undefined ? `${file}:${line}` : `line ${line}`);

  let section: Section | undefined;
  let seen = new Map<string, number>(); // single-valued keys of the current section -> line
  const closePeer = () => {
    if (section?.kind !== 'peer') return;
    const p = section.peer;
    if (p.publicKey === undefined) fail(section.line, `[Peer] has no PublicKey; add "PublicKey = <the server's public key>"`);
    const twin = peers.find((q) => q.publicKey === p.publicKey);
    if (twin) fail(section.line, `this [Peer] has the same PublicKey as the one on line ${twin.line}; merge them into one`);
    if (p.allowedIPs.length === 0) warnings.push(`${at(section.line)}: [Peer] has no AllowedIPs, so no traffic goes through it.`);
    peers.push({ ...p, publicKey: p.publicKey!, allowedIPs: p.allowedIPs, line: section.line });
  };

  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    // Like wg-quick: a "#" anywhere starts a comment (no value wg-quick accepts contains one).
    const hash = lines[i]!.indexOf('#');
    const stripped = (hash < 0 ? lines[i]! : lines[i]!.slice(0, hash)).trim();
    if (stripped === '') continue;

    if (stripped.startsWith('[')) {
      const name = stripped.toLowerCase();
      closePeer();
      seen = new Map();
      if (name === '[interface]') {
        if (interfaceLine !== undefined) fail(lineNo, `a second [Interface] section (the first is on line ${interfaceLine}); a file describes one interface`);
        interfaceLine = lineNo;
        section = { kind: 'interface', line: lineNo };
      } else if (name === '[peer]') {
        section = { kind: 'peer', line: lineNo, peer: { allowedIPs: [] } };
      } else {
        const guess = didYouMean(stripped.replace(/^\[|\]$/g, ''), ['Interface', 'Peer']);
        fail(lineNo, `unknown section ${stripped}; expected [Interface] or [Peer]${guess ? ` (did you mean "[${guess}]"?)` : ''}`);
      }
      continue;
    }

    const eq = stripped.indexOf('=');
    if (eq < 0) fail(lineNo, `expected "Key = Value", got "${truncate(stripped)}"`);
    const rawKey = stripped.slice(0, eq).trim();
    const value = stripped.slice(eq + 1).trim();
    if (section === undefined) fail(lineNo, `"${rawKey}" comes before any section; put it under [Interface] or [Peer]`);
    const sectionName = section!.kind === 'interface' ? '[Interface]' : '[Peer]';
    const known: readonly string[] = section!.kind === 'interface' ? INTERFACE_KEYS : PEER_KEYS;
    const key = known.find((k) => k.toLowerCase() === rawKey.toLowerCase());
    if (key === undefined) {
      const other: readonly string[] = section!.kind === 'interface' ? PEER_KEYS : INTERFACE_KEYS;
      const elsewhere = other.find((k) => k.toLowerCase() === rawKey.toLowerCase());
      if (elsewhere) fail(lineNo, `"${rawKey}" belongs in ${section!.kind === 'interface' ? '[Peer]' : '[Interface]'}, not in ${sectionName}`);
      const guess = didYouMean(rawKey, known);
      fail(lineNo, `unknown key "${rawKey}" in ${sectionName}${guess ? `; did you mean "${guess}"?` : ''}`);
    }
    const k = key!.toLowerCase();
    if (!LIST_KEYS.has(k)) {
      const first = seen.get(k);
      if (first !== undefined) fail(lineNo, `${key} is set twice in this ${sectionName} (first on line ${first}); keep one`);
      seen.set(k, lineNo);
    }

    if (section!.kind === 'interface') {
      switch (k) {
        case 'privatekey':
          iface.privateKey = checkKey(value, key!, lineNo, fail);
          break;
        case 'address':
          for (const a of splitList(value)) {
            const addr = normalizeAddress(a);
            if (addr === undefined) fail(lineNo, `Address "${a}" is not an IP address with an optional /prefix`);
            iface.addresses.push(addr!);
          }
          break;
        case 'dns':
          for (const d of splitList(value)) {
            if (isIPv4(d) || isIPv6(d)) iface.dns.push(normalizeIp(d));
            else if (isHostName(d)) iface.dnsSearch.push(d);
            else fail(lineNo, `DNS "${d}" is neither an IP address nor a search domain`);
          }
          break;
        case 'mtu':
          iface.mtu = intIn(value, 576, 65535, key!, lineNo, fail);
          break;
        case 'listenport':
          iface.listenPort = intIn(value, 0, 65535, key!, lineNo, fail);
          break;
        case 'fwmark': {
          const mark = parseFwMark(value);
          if (mark === null) fail(lineNo, `FwMark "${value}" is not a number from 0 to 4294967295 (decimal or 0x hex) or "off"`);
          if (mark) iface.fwMark = mark;
          else delete iface.fwMark;
          break;
        }
        case 'table':
        case 'saveconfig':
          ignored.push({ key: key!, line: lineNo });
          warnings.push(`${at(lineNo)}: ${key} is ignored: ${IGNORED_WHY[k]}.`);
          break;
        default:
          // PreUp, PostUp, PreDown, PostDown
          fail(lineNo, `${key} ${HOOK_WHY}`);
      }
    } else {
      const peer = (section as Extract<Section, { kind: 'peer' }>).peer;
      switch (k) {
        case 'publickey':
          peer.publicKey = checkKey(value, key!, lineNo, fail);
          break;
        case 'presharedkey':
          peer.presharedKey = checkKey(value, key!, lineNo, fail);
          break;
        case 'endpoint': {
          const hp = parseHostPort(value);
          if (!hp.ok) fail(lineNo, `Endpoint ${hp.detail}`);
          else peer.endpoint = { host: isIPv6(hp.host) ? normalizeIp(hp.host) : hp.host, port: hp.port };
          break;
        }
        case 'allowedips':
          for (const a of splitList(value)) {
            const net = normalizeNetwork(a);
            if (net === undefined) fail(lineNo, `AllowedIPs "${a}" is not an IP network such as 0.0.0.0/0 or 10.0.0.0/8`);
            if (!peer.allowedIPs.includes(net!)) peer.allowedIPs.push(net!);
          }
          break;
        case 'persistentkeepalive':
          // 0 and "off" both mean no keepalive, as in wg.
          const seconds = value.toLowerCase() === 'off' ? 0 : intIn(value, 0, 65535, key!, lineNo, fail);
          if (seconds) peer.persistentKeepalive = seconds;
          else delete peer.persistentKeepalive;
          break;
      }
    }
  }
  closePeer();

  if (interfaceLine === undefined) fail(undefined, `no [Interface] section; add one with PrivateKey and Address`);
  if (iface.privateKey === undefined) fail(interfaceLine, `[Interface] has no PrivateKey; add "PrivateKey = <output of wg genkey>"`);
  if (iface.addresses.length === 0) fail(interfaceLine, `[Interface] has no Address; add the tunnel address your VPN provider gave you, e.g. "Address = 10.64.0.2/32"`);
  if (peers.length === 0) fail(undefined, `no [Peer] section; add the server as [Peer] with PublicKey, Endpoint and AllowedIPs`);
  if (!peers.some((p) => p.endpoint)) fail(peers[0]!.line, `no [Peer] has an Endpoint; add the server's address, e.g. "Endpoint = vpn.example.com:51820"`);

  return { file, interface: iface as WgInterface, peers, ignored, warnings };
}

/**
 * The file for `wg setconf`: only the keys `wg` accepts, every Endpoint numeric. `resolvedEndpoints`
 * maps "host:port" (as formatHostPort writes it, i.e. wgEndpoints' entries) to "ip:port"; numeric
 * endpoints need no entry. `opts.fwmark` replaces the file's FwMark (the kill switch matches on it).
 * Holds the private key: write it 0600.
 */
export function renderWgSetconf(cfg: WgQuickConfig, resolvedEndpoints: ReadonlyMap<string, string>, opts: { fwmark?: number } = {}): string {
  const out: string[] = ['[Interface]', `PrivateKey = ${cfg.interface.privateKey}`];
  if (cfg.interface.listenPort !== undefined) out.push(`ListenPort = ${cfg.interface.listenPort}`);
  const mark = opts.fwmark ?? cfg.interface.fwMark;
  if (mark !== undefined && mark !== 0) out.push(`FwMark = ${mark}`);
  for (const p of cfg.peers) {
    out.push('', '[Peer]', `PublicKey = ${p.publicKey}`);
    if (p.presharedKey !== undefined) out.push(`PresharedKey = ${p.presharedKey}`);
    if (p.endpoint) out.push(`Endpoint = ${numericEndpoint(p.endpoint, resolvedEndpoints)}`);
    if (p.allowedIPs.length > 0) out.push(`AllowedIPs = ${p.allowedIPs.join(', ')}`);
    if (p.persistentKeepalive !== undefined) out.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  }
  return out.join('\n') + '\n';
}

/**
 * renderWgSetconf's file as the `set=1` request of WireGuard's cross-platform UAPI (what `wg
 * setconf` sends wireguard-go over its control socket): the peers replaced, and each peer's
 * allowed IPs. Only that file's own spelling is read (one "Key = value" a line, numeric
 * endpoints); anything else is refused, never sent. Holds the private key: for the socket only.
 */
export function setconfToUapi(text: string): string {
  const out = ['set=1'];
  let section: 'interface' | 'peer' | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line === '[Interface]' || line === '[Peer]') {
      if (line === '[Interface]' ? section !== undefined : section === undefined) throw new Error('setconfToUapi: [Interface] must come first, once');
      section = line === '[Interface]' ? 'interface' : 'peer';
      if (section === 'peer' && !out.includes('replace_peers=true')) out.push('replace_peers=true');
      continue;
    }
    const m = /^(\w+) = (.+)$/.exec(line);
    if (!m || section === undefined) throw new Error(`setconfToUapi: unexpected line ${JSON.stringify(line.replace(/=.*/, '= ...'))}`);
    const [, key, value] = m as unknown as [string, string, string];
    const k = `${section}.${key}`;
    if (k === 'interface.PrivateKey') out.push(`private_key=${hexKey(value, key)}`);
    else if (k === 'interface.ListenPort' && /^\d{1,5}$/.test(value)) out.push(`listen_port=${value}`);
    else if (k === 'interface.FwMark' && /^\d{1,10}$/.test(value)) out.push(`fwmark=${value}`);
    else if (k === 'peer.PublicKey') out.push(`public_key=${hexKey(value, key)}`, 'replace_allowed_ips=true');
    else if (k === 'peer.PresharedKey') out.push(`preshared_key=${hexKey(value, key)}`);
    else if (k === 'peer.Endpoint') {
      const hp = parseHostPort(value);
      if (!hp.ok || !(isIPv4(hp.host) || isIPv6(hp.host))) throw new Error(`setconfToUapi: endpoint ${JSON.stringify(value)} is not a numeric ip:port`);
      out.push(`endpoint=${formatHostPort(hp)}`);
    } else if (k === 'peer.AllowedIPs') out.push(...value.split(',').map((a) => `allowed_ip=${a.trim()}`));
    else if (k === 'peer.PersistentKeepalive' && /^\d{1,5}$/.test(value)) out.push(`persistent_keepalive_interval=${value}`);
    else throw new Error(`setconfToUapi: unexpected ${key} in [${section === 'peer' ? 'Peer' : 'Interface'}]`);
  }
  if (!out.some((l) => l.startsWith('private_key='))) throw new Error('setconfToUapi: no PrivateKey');
  if (!out.includes('replace_peers=true')) out.push('replace_peers=true');
  return `${out.join('\n')}\n\n`;
}

/** A base64 key (32 bytes) as the hex the UAPI takes; anything else is refused. */
function hexKey(b64: string, what: string): string {
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== b64) throw new Error(`setconfToUapi: ${what} is not a 32-byte base64 key`);
  return raw.toString('hex');
}

function numericEndpoint(ep: { host: string; port: number }, resolved: ReadonlyMap<string, string>): string {
  if (isIPv4(ep.host) || isIPv6(ep.host)) return formatHostPort(ep);
  const key = formatHostPort(ep);
  const value = resolved.get(key);
  // A caller bug, not a user mistake: `wg` would otherwise resolve the name inside the namespace.
  if (value === undefined) throw new Error(`renderWgSetconf: no resolved address for endpoint "${key}"`);
  const hp = parseHostPort(value);
  if (!hp.ok || !(isIPv4(hp.host) || isIPv6(hp.host))) throw new Error(`renderWgSetconf: "${value}" for "${key}" is not a numeric ip:port`);
  return formatHostPort(hp);
}

/** The servers to resolve and let through the kill switch, one per distinct host:port, in file order. */
export function wgEndpoints(cfg: WgQuickConfig): Array<{ host: string; port: number }> {
  const out: Array<{ host: string; port: number }> = [];
  for (const p of cfg.peers) {
    if (p.endpoint && !out.some((e) => e.host === p.endpoint!.host && e.port === p.endpoint!.port)) out.push({ ...p.endpoint });
  }
  return out;
}

/** The tunnel's own addresses (with prefix), by family. */
export function wgAddresses(cfg: WgQuickConfig): { v4: string[]; v6: string[] } {
  return splitFamilies(cfg.interface.addresses);
}

/** Whether IPv6 can go through the tunnel: some peer carries an IPv6 range and the interface has an IPv6 address. */
export function wgAllowsIPv6(cfg: WgQuickConfig): boolean {
  return wgAddresses(cfg).v6.length > 0 && wgRoutes(cfg).v6.length > 0;
}

/**
 * What to route into the tunnel: every peer's AllowedIPs, deduplicated, by family. "0.0.0.0/0" and
 * "::/0" mean the default route (to be replaced, after a host route to each endpoint is in place).
 * Use the v6 list only when wgAllowsIPv6 says so.
 */
export function wgRoutes(cfg: WgQuickConfig): { v4: string[]; v6: string[] } {
  return splitFamilies([...new Set(cfg.peers.flatMap((p) => p.allowedIPs))]);
}

function splitFamilies(cidrs: readonly string[]): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const c of cidrs) (c.includes(':') ? v6 : v4).push(c);
  return { v4, v6 };
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** 32 bytes in canonical base64, as `wg genkey`/`wg pubkey`/`wg genpsk` print them. The value is a secret: never echo it. */
export function isWgKey(value: string): boolean {
  return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(value) && Buffer.from(value, 'base64').length === 32;
}

function checkKey(value: string, key: string, line: number, fail: (line: number, detail: string) => never): string {
  if (!isWgKey(value)) {
    const len = value.length === 44 ? 'is 44 characters but not valid base64 of 32 bytes' : `is ${value.length} characters long, not 44`;
    fail(line, `${key} ${len}; copy the whole key as printed by "wg genkey", "wg pubkey" or "wg genpsk"`);
  }
  return value;
}

function intIn(value: string, min: number, max: number, key: string, line: number, fail: (line: number, detail: string) => never): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) fail(line, `${key} "${value}" is not an integer from ${min} to ${max}`);
  return n;
}

function parseFwMark(value: string): number | null {
  if (value.toLowerCase() === 'off') return 0;
  const n = /^0x[0-9a-f]{1,8}$/i.test(value) ? parseInt(value.slice(2), 16) : /^[0-9]{1,10}$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n <= 0xffffffff ? n : null;
}

// --- addresses -------------------------------------------------------------------------------

function splitCidr(s: string): { ip: string; prefix: number; v6: boolean } | undefined {
  const slash = s.indexOf('/');
  const ip = slash < 0 ? s : s.slice(0, slash);
  const v6 = isIPv6(ip);
  if (!v6 && !isIPv4(ip)) return undefined;
  const max = v6 ? 128 : 32;
  if (slash < 0) return { ip, prefix: max, v6 };
  const p = s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) return undefined;
  return { ip, prefix: Number(p), v6 };
}

/** An interface address: host bits kept, prefix made explicit. */
function normalizeAddress(s: string): string | undefined {
  const c = splitCidr(s);
  return c && `${normalizeIp(c.ip)}/${c.prefix}`;
}

/** A network: host bits cleared, as `wg` and `ip route` want it. */
function normalizeNetwork(s: string): string | undefined {
  const c = splitCidr(s);
  if (!c) return undefined;
  const bytes = c.v6 ? ipv6Bytes(c.ip)! : c.ip.split('.').map(Number);
  for (let bit = c.prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  if (!c.v6) return `${bytes.join('.')}/${c.prefix}`;
  return `${ipv6FromBytes(Uint8Array.from(bytes))}/${c.prefix}`;
}
