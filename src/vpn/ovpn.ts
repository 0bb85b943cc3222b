// OpenVPN client configs: read the user's file, then render the one vpnns runs. The rendered
// config talks only to numeric remotes (nothing resolves a name inside the locked-down
// namespace), names vpnns' own tunnel, and leaves every script, privilege and process option to
// vpnns: a config from a VPN provider must not get to run commands as root.

import { dirname, isAbsolute } from 'node:path';
import { isIPv4, isIPv6 } from '../config/net-utils.js';
import { isHostName, parsePort, type Proto } from './endpoint.js';
import { VpnConfigError, didYouMean } from './errors.js';

export interface OvpnOption {
  kind: 'option';
  name: string;
  args: string[];
  line: number;
}

export interface OvpnInline {
  kind: 'inline';
  name: string;
  /** The lines between the tags, verbatim, joined with "\n" (no final newline). */
  body: string;
  line: number;
}

export interface OvpnConnection {
  kind: 'connection';
  line: number;
  options: OvpnOption[];
}

export type OvpnItem = OvpnOption | OvpnInline | OvpnConnection;

export interface OvpnRemote {
  /** A name or an IP address (IPv6 without brackets). */
  host: string;
  port: number;
  proto: Proto;
  /** From udp4/udp6/tcp4/tcp6: the address family the user asked for, if any. */
  family?: 4 | 6;
  line: number;
  /** Line of the `<connection>` block the remote came from. */
  connection?: number;
}

export interface OvpnConfig {
  file?: string;
  /** Everything in the file, in order (comments and blank lines dropped). */
  items: OvpnItem[];
  /** In file order, with `port`/`rport`/`proto` defaults applied (the block's own, else the global ones; 1194/udp). */
  remotes: OvpnRemote[];
  /** The `dev` argument ("tun", "tun0"), if any. vpnns replaces it. */
  dev?: string;
  /** Present when the config asks for a user name and password. */
  authUserPass?: { line: number; file?: string; inline: boolean };
  redirectGateway?: { flags: string[]; line: number };
  /** `dhcp-option DNS`/`DNS6` addresses set in the file itself (servers usually push theirs). */
  dns: string[];
  /** Options renderOvpnForNamespace leaves out, as `up (line 14)`, for the provider to warn about. */
  dropped: string[];
}

const INLINE_BLOCKS = [
  'ca', 'cert', 'key', 'tls-auth', 'tls-crypt', 'tls-crypt-v2', 'extra-certs', 'pkcs12', 'dh', 'secret',
  'crl-verify', 'auth-user-pass', 'http-proxy-user-pass', 'peer-fingerprint', 'connection',
];

/** Run commands or change how the process runs: vpnns owns these, and says it dropped them. */
const DROPPED = new Set([
  // script hooks: each runs a command as root
  'up', 'down', 'down-pre', 'route-up', 'route-pre-down', 'ipchange', 'tls-verify', 'learn-address',
  'client-connect', 'client-disconnect', 'auth-user-pass-verify', 'plugin',
  // runs the given program instead of ip(8), as root
  'iproute',
  // process management
  'user', 'group', 'daemon', 'chroot', 'log', 'log-append', 'syslog', 'writepid', 'status', 'status-version',
  // a dead tunnel must be visible to the supervisor; with it OpenVPN busy-loops when its tun vanishes
  'persist-tun',
  // binds a host address that does not exist in the namespace
  'local',
  // prepends random labels to the remote's name; the remotes vpnns writes are addresses
  'remote-random-hostname',
]);

/** Replaced by what vpnns writes, so dropping them needs no warning. */
const REPLACED = new Set([
  'remote', 'port', 'rport', 'proto', 'dev', 'dev-type', 'dev-node', 'resolv-retry', 'script-security', 'up-restart', 'disable-dco',
]);

/** Cannot work in the namespace; better to say so than to start a client that never connects. */
const REFUSED: Record<string, string> = {
  config: 'includes another file; paste its contents into this one instead',
  'http-proxy': 'is not supported: the namespace only lets OpenVPN reach its remotes; remove it or use a config without a proxy',
  'socks-proxy': 'is not supported: the namespace only lets OpenVPN reach its remotes; remove it or use a config without a proxy',
  server: 'makes this a server config; vpnns needs a client config',
  'tls-server': 'makes this a server config; vpnns needs a client config',
};

/** Parses an OpenVPN client config. Throws VpnConfigError naming the line of the first problem. */
export function parseOvpn(text: string, file?: string): OvpnConfig {
  const fail = (line: number | undefined, detail: string): never => {
    throw new VpnConfigError(detail, { file, line });
  };
  const lines = text.split(/\r?\n/);
  const items: OvpnItem[] = [];
  let connection: OvpnConnection | undefined;

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const tokens = tokenizeLine(lines[i]!);
    if (typeof tokens === 'string') return fail(lineNo, tokens);
    if (tokens.length === 0) continue;
    const first = tokens[0]!;

    const tag = /^<(\/?)([^<>/]*)>$/.exec(first);
    if (tag) {
      const [, closing, name] = tag as unknown as [string, string, string];
      if (closing) {
        if (name === 'connection' && connection) {
          items.push(connection);
          connection = undefined;
          continue;
        }
        return fail(lineNo, `</${name}> without a matching <${name}> before it`);
      }
      if (!INLINE_BLOCKS.includes(name)) {
        const guess = didYouMean(name, INLINE_BLOCKS);
        return fail(lineNo, `unknown inline block <${name}>${guess ? `; did you mean <${guess}>?` : ''}`);
      }
      if (tokens.length > 1) return fail(lineNo, `put the contents of <${name}> on the lines after the tag`);
      if (name === 'connection') {
        if (connection) return fail(lineNo, `<connection> inside the <connection> block of line ${connection.line}; close that one first with </connection>`);
        connection = { kind: 'connection', line: lineNo, options: [] };
        continue;
      }
      if (connection) return fail(lineNo, `<${name}> cannot be inside a <connection> block; move it after </connection>`);
      const close = `</${name}>`;
      let end = i + 1;
      while (end < lines.length && lines[end]!.trim() !== close) end++;
      if (end >= lines.length) return fail(lineNo, `<${name}> is not closed; add "${close}" after its contents`);
      items.push({ kind: 'inline', name, body: lines.slice(i + 1, end).join('\n'), line: lineNo });
      i = end;
      continue;
    }

    // On the command line options start with "--"; OpenVPN accepts the same in files.
    const name = first.startsWith('--') ? first.slice(2) : first;
    const option: OvpnOption = { kind: 'option', name, args: tokens.slice(1), line: lineNo };
    if (connection) connection.options.push(option);
    else items.push(option);
  }
  if (connection) fail(connection.line, `<connection> is not closed; add "</connection>" after its options`);

  return interpret(items, file, fail);
}

function interpret(items: OvpnItem[], file: string | undefined, fail: (line: number | undefined, detail: string) => never): OvpnConfig {
  const cfg: OvpnConfig = { file, items, remotes: [], dns: [], dropped: [] };
  type Defaults = { port?: number; proto?: Proto; family?: 4 | 6 };
  const globals: Defaults = {};
  const pending: Array<{ host: string; port?: number; proto?: Proto; family?: 4 | 6; line: number; block?: Defaults & { line: number } }> = [];

  const portArg = (o: OvpnOption, value: string | undefined): number => {
    if (value === undefined) return fail(o.line, `"${o.name}" needs a port number`);
    const port = parsePort(value);
    if (port === undefined) return fail(o.line, `bad port "${value}"; expected an integer from 1 to 65535`);
    return port;
  };
  const protoArg = (o: OvpnOption, value: string | undefined): { proto: Proto; family?: 4 | 6 } => {
    if (value === undefined) return fail(o.line, `"${o.name}" needs a protocol, udp or tcp`);
    const m = /^(udp|tcp)([46]?)(-client|-server)?$/.exec(value);
    if (!m || (m[1] === 'udp' && m[3])) return fail(o.line, `unknown protocol "${value}"; expected udp or tcp`);
    if (m[3] === '-server') return fail(o.line, `"${value}" makes this a server config; vpnns needs a client config (tcp-client or udp)`);
    return { proto: m[1] as Proto, ...(m[2] ? { family: Number(m[2]) as 4 | 6 } : {}) };
  };

  const visit = (o: OvpnOption, block: (Defaults & { line: number }) | undefined) => {
    const where = `${o.name} (line ${o.line}${block ? `, in the <connection> of line ${block.line}` : ''})`;
    const scope = block ?? globals;
    if (Object.hasOwn(REFUSED, o.name)) fail(o.line, `"${o.name}" ${REFUSED[o.name]}`);
    switch (o.name) {
      case 'remote': {
        const [host, port, proto, ...extra] = o.args;
        if (host === undefined) return fail(o.line, `"remote" needs a host, e.g. "remote vpn.example.com 1194 udp"`);
        if (extra.length > 0) return fail(o.line, `"remote" takes at most a host, a port and a protocol, got ${o.args.length} arguments`);
        if (!isIPv4(host) && !isIPv6(host) && !isHostName(host)) return fail(o.line, `"${host}" is neither an IP address nor a host name`);
        pending.push({
          host,
          line: o.line,
          ...(port !== undefined ? { port: portArg(o, port) } : {}),
          ...(proto !== undefined ? protoArg(o, proto) : {}),
          ...(block ? { block } : {}),
        });
        return;
      }
      case 'port':
      case 'rport':
        scope.port = portArg(o, o.args[0]);
        return;
      case 'proto':
        Object.assign(scope, { family: undefined }, protoArg(o, o.args[0]));
        return;
      case 'mode':
        if (o.args[0] === 'server') fail(o.line, `"mode server" makes this a server config; vpnns needs a client config`);
        break;
    }
    if (block) {
      // Only the remote and its port and protocol survive: vpnns writes plain remotes instead of the blocks.
      cfg.dropped.push(where);
      return;
    }
    switch (o.name) {
      case 'dev':
        if (o.args[0] === undefined) fail(o.line, `"dev" needs a device, e.g. "dev tun"`);
        if (o.args[0]!.startsWith('tap')) fail(o.line, `"dev ${o.args[0]}" (layer 2) is not supported; vpnns runs OpenVPN with "dev tun"`);
        cfg.dev = o.args[0];
        break;
      case 'dev-type':
        if (o.args[0] === 'tap') fail(o.line, `"dev-type tap" (layer 2) is not supported; vpnns runs OpenVPN with "dev-type tun"`);
        break;
      case 'auth-user-pass':
        cfg.authUserPass = { line: o.line, inline: false, ...(o.args[0] !== undefined ? { file: o.args[0] } : {}) };
        break;
      case 'redirect-gateway':
        cfg.redirectGateway = { flags: [...o.args], line: o.line };
        break;
      case 'dhcp-option':
        if ((o.args[0] === 'DNS' || o.args[0] === 'DNS6') && o.args[1] !== undefined) {
          const ip = o.args[1];
          if (!isIPv4(ip) && !isIPv6(ip)) fail(o.line, `"dhcp-option ${o.args[0]} ${ip}" needs an IP address`);
          if (!cfg.dns.includes(ip)) cfg.dns.push(ip);
        }
        break;
    }
    if (DROPPED.has(o.name) || o.name.startsWith('management')) cfg.dropped.push(where);
  };

  for (const item of items) {
    if (item.kind === 'option') visit(item, undefined);
    else if (item.kind === 'connection') {
      const block = { line: item.line };
      for (const o of item.options) visit(o, block);
    } else if (item.name === 'auth-user-pass') {
      cfg.authUserPass = { line: item.line, inline: true };
    }
  }

  if (pending.length === 0) fail(undefined, `no "remote" line; add e.g. "remote vpn.example.com 1194 udp"`);
  for (const r of pending) {
    const scope: Defaults = r.block ?? {};
    const proto = r.proto ?? scope.proto ?? globals.proto ?? 'udp';
    const family = r.proto !== undefined ? r.family : scope.proto !== undefined ? scope.family : globals.family;
    cfg.remotes.push({
      host: r.host,
      port: r.port ?? scope.port ?? globals.port ?? 1194,
      proto,
      ...(family !== undefined ? { family } : {}),
      line: r.line,
      ...(r.block ? { connection: r.block.line } : {}),
    });
  }
  return cfg;
}

export interface OvpnRenderOptions {
  /** The resolved remotes, in the order OpenVPN should try them. */
  remotes: Array<{ ip: string; port: number; proto: Proto }>;
  /** The tunnel's name inside the namespace. */
  dev: string;
  /** A 0600 file with the user name and password; replaces the config's own auth-user-pass. */
  authFile?: string;
  /** Absolute path of the script that receives the pushed DNS (run with `up`, again on restarts). */
  upScript?: string;
  /** Exported to the up script as VPNNS_STATE_DIR. */
  stateDir?: string;
  /** SO_MARK for OpenVPN's own packets, so the kill switch can let them out. */
  mark?: number;
}

export interface OvpnRendered {
  /** The config file; it may hold inline keys: write it 0600. */
  text: string;
  /** The user's options left out that change behaviour (= cfg.dropped), as `up (line 14)`: warn about them. */
  dropped: string[];
}

/**
 * The config vpnns runs: the user's options in their order (minus remotes, connection blocks, and
 * what `dropped` lists), inline blocks verbatim, then vpnns' own lines, which come last so they win.
 * Relative file names keep working through a `cd` to the original file's directory. Deterministic.
 */
export function renderOvpnForNamespace(cfg: OvpnConfig, opts: OvpnRenderOptions): OvpnRendered {
  if (opts.remotes.length === 0) throw new Error('renderOvpnForNamespace: no remotes');
  for (const r of opts.remotes) {
    if (!isIPv4(r.ip) && !isIPv6(r.ip)) throw new Error(`renderOvpnForNamespace: remote "${r.ip}" is not an IP address`);
  }
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(opts.dev)) throw new Error(`renderOvpnForNamespace: bad device name "${opts.dev}"`);
  if (opts.mark !== undefined && !(Number.isInteger(opts.mark) && opts.mark > 0 && opts.mark <= 0xffffffff)) {
    throw new Error(`renderOvpnForNamespace: mark ${opts.mark} is not a 32-bit integer above 0`);
  }
  // OpenVPN splits the `up` command line again on spaces.
  if (opts.upScript !== undefined && /[\s"'\\]/.test(opts.upScript)) throw new Error(`renderOvpnForNamespace: up script path "${opts.upScript}" must not contain spaces or quotes`);

  const out: string[] = [];
  out.push(`# Written by vpnns${cfg.file !== undefined ? ` from ${cfg.file}` : ''}; edit that file, not this one.`);
  if (cfg.file !== undefined && isAbsolute(cfg.file)) out.push(formatLine('cd', [dirname(cfg.file)]));

  for (const item of cfg.items) {
    if (item.kind === 'connection') continue;
    if (item.kind === 'inline') {
      if (item.name === 'auth-user-pass' && opts.authFile !== undefined) continue;
      out.push(`<${item.name}>`, ...(item.body === '' ? [] : [item.body]), `</${item.name}>`);
      continue;
    }
    const n = item.name;
    if (REPLACED.has(n) || DROPPED.has(n) || n.startsWith('management')) continue;
    if (n === 'auth-user-pass' && opts.authFile !== undefined) continue;
    if (n === 'mark' && opts.mark !== undefined) continue;
    out.push(formatLine(n, n === 'mark' ? item.args.map(decimalMark) : item.args));
  }

  out.push('# vpnns');
  out.push(formatLine('dev', [opts.dev]), 'dev-type tun', 'disable-dco');
  for (const r of opts.remotes) out.push(formatLine('remote', [r.ip, String(r.port), r.proto]));
  if (opts.authFile !== undefined) out.push(formatLine('auth-user-pass', [opts.authFile]));
  if (opts.stateDir !== undefined) out.push(formatLine('setenv', ['VPNNS_STATE_DIR', opts.stateDir]));
  if (opts.upScript !== undefined) out.push('script-security 2', formatLine('up', [opts.upScript]), 'up-restart');
  // Decimal only: OpenVPN reads "0x5150" as 0 without a word.
  if (opts.mark !== undefined) out.push(`mark ${opts.mark}`);
  return { text: out.join('\n') + '\n', dropped: [...cfg.dropped] };
}

/**
 * Splits one line the way OpenVPN does: whitespace separates; "..." groups with backslash escapes,
 * '...' groups literally; a backslash outside single quotes escapes the next character; "#" or ";"
 * where a new token would start begins a comment. Returns a message for a broken line.
 */
export function tokenizeLine(line: string): string[] | string {
  const tokens: string[] = [];
  let cur = '';
  let state: 'between' | 'plain' | 'double' | 'single' = 'between';
  let escaped = false;
  for (const c of line) {
    if (escaped) {
      cur += c;
      escaped = false;
      if (state === 'between') state = 'plain';
      continue;
    }
    if (c === '\\' && state !== 'single') {
      escaped = true;
      continue;
    }
    const space = c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v';
    switch (state) {
      case 'between':
        if (space) break;
        if (c === '#' || c === ';') return tokens;
        if (c === '"') state = 'double';
        else if (c === "'") state = 'single';
        else {
          cur = c;
          state = 'plain';
        }
        break;
      case 'plain':
        if (space) {
          tokens.push(cur);
          cur = '';
          state = 'between';
        } else cur += c;
        break;
      case 'double':
      case 'single':
        if (c === (state === 'double' ? '"' : "'")) {
          tokens.push(cur);
          cur = '';
          state = 'between';
        } else cur += c;
        break;
    }
  }
  if (state === 'double' || state === 'single') return `unterminated ${state === 'double' ? '"' : "'"} quote; close it on the same line`;
  if (escaped) return 'the line ends with a backslash; OpenVPN options cannot continue on the next line';
  if (state === 'plain') tokens.push(cur);
  return tokens;
}

/** OpenVPN reads a mark with atoi(), so "0x5150" would silently become 0: write what the user meant. */
function decimalMark(arg: string): string {
  return /^0x[0-9a-f]{1,8}$/i.test(arg) ? String(parseInt(arg.slice(2), 16)) : arg;
}

/** One option line that tokenizeLine reads back as exactly `name` and `args`. */
export function formatLine(name: string, args: readonly string[]): string {
  return [name, ...args].map(quoteToken).join(' ');
}

function quoteToken(t: string): string {
  if (t !== '' && !/[\s"'\\#;]/.test(t)) return t;
  return `"${t.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
