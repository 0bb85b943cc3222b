// OpenVPN client configs: read the user's file, then render the one vpnns runs.
//
// OpenVPN runs as root, so its config is code: `plugin`, `providers`, `up` and friends run
// anything, `auth-user-pass /etc/shadow` sends a root-only file to the server, `setenv LD_PRELOAD`
// reaches the one script vpnns itself lets OpenVPN run. So the parser is an ALLOWLIST: every
// option is looked up in OPTIONS below and is kept, replaced by vpnns, dropped with a warning, or
// refused with one sentence naming the line and what to do instead; an option not in the list is
// refused. Options that name a file (ca, cert, key, tls-auth, ...) are read by vpnns (see
// referenced-files.ts) and written as inline blocks, so the rendered config names no path of the
// user's and OpenVPN never opens one. The rendered config talks only to numeric remotes (nothing
// resolves a name inside the locked-down namespace) and names vpnns' own tunnel.
//
// The rendered text must mean to OpenVPN exactly what it means here, or an option could hide
// inside an inline block: OpenVPN ends a block at the first line that, after leading blanks,
// STARTS with `</name>` (`</ca>x` ends it), and splits lines longer than 255 bytes (so a `</ca>`
// at byte 256 of a long line ends it too). Both were verified against OpenVPN 2.6.14 and both are
// refused here, as are control characters.

import { dirname, isAbsolute, resolve } from 'node:path';
import { isHostName, isIPv4, isIPv6, parsePort } from '../config/net-utils.js';
import type { Proto } from './endpoint.js';
import { didYouMean } from '../config/did-you-mean.js';
import { VpnConfigError } from './errors.js';

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

/** A file the config names (`ca ca.crt`); vpnns reads it and renders it as the inline block `block`. */
export interface OvpnFileRef {
  /** The option as written: ca, cert, key, extra-certs, dh, crl-verify, pkcs12, tls-auth, tls-crypt, tls-crypt-v2, secret. */
  option: string;
  /** The inline block it becomes (the option's name). */
  block: string;
  /** As written in the file. */
  path: string;
  /** Absolute: relative names are relative to the config's directory (or to a `cd` before them), as for OpenVPN. */
  resolved: string;
  /** The key direction given after the file name (tls-auth, secret), written as `key-direction`. */
  direction?: '0' | '1';
  line: number;
}

/** An option left out of the rendered config, with the reason, for the provider to warn about. */
export interface OvpnDropped {
  option: string;
  line: number;
  /** Line of the `<connection>` block it was in. */
  connection?: number;
  why: string;
}

/** One line (or block) of the rendered config, in the user's order; decided by parseOvpn. */
type Kept =
  | { kind: 'line'; name: string; args: string[] }
  | { kind: 'inline'; name: string; body: string }
  | { kind: 'file'; ref: OvpnFileRef };

export interface OvpnConfig {
  file?: string;
  /** Everything in the file, in order (comments and blank lines dropped). */
  items: OvpnItem[];
  /** In file order, with `port`/`rport`/`proto` defaults applied (the block's own, else the global ones; 1194/udp). */
  remotes: OvpnRemote[];
  /** The `dev` argument ("tun", "tun0"), if any. vpnns replaces it. */
  dev?: string;
  /** Present when the config asks for a user name and password (`auth-user-pass` with no file, or the inline block). */
  authUserPass?: { line: number; inline: boolean };
  redirectGateway?: { flags: string[]; line: number };
  /** `dhcp-option DNS`/`DNS6` addresses set in the file itself (servers usually push theirs). */
  dns: string[];
  /** Files the config names; the caller reads each (readOvpnFiles) and passes the contents to renderOvpnForNamespace. */
  files: OvpnFileRef[];
  /** Options renderOvpnForNamespace leaves out that change behaviour, for the provider to warn about. */
  dropped: OvpnDropped[];
  /** What renderOvpnForNamespace writes from the user's file, in order. */
  kept: Kept[];
}

/** Longest line (in bytes) vpnns accepts: OpenVPN splits lines at 255 bytes; a margin for quoting. */
export const MAX_LINE_BYTES = 250;

type Rule =
  /** Written as it is. */
  | { kind: 'keep' }
  /** vpnns writes its own; leaving the user's out needs no warning. */
  | { kind: 'replaced' }
  /** Left out with a warning: harmless to ignore, pointless or impossible in the namespace. */
  | { kind: 'dropped'; why: string }
  /** Refused: `why` is the rest of the sentence after `"name"`, with the fix. */
  | { kind: 'refused'; why: string }
  /** Names a file: vpnns reads it and writes the inline block instead. */
  | { kind: 'file'; maxArgs: number };

const keep: Rule = { kind: 'keep' };
const replaced: Rule = { kind: 'replaced' };
const file = (maxArgs = 1): Rule => ({ kind: 'file', maxArgs });
const dropped = (why: string): Rule => ({ kind: 'dropped', why });
const refused = (why: string): Rule => ({ kind: 'refused', why });

const SCRIPT = refused('runs a program as root; vpnns sets up the tunnel\'s routes and DNS itself, so delete the line');
const SERVER = refused('makes this a server config; vpnns needs a client config');
const PROXY = refused('is not supported: the namespace only lets OpenVPN reach its remotes; remove it or use a config without a proxy');
const WRITES = (instead: string): Rule => refused(`makes OpenVPN write a file as root; delete the line (${instead})`);
const WINDOWS = dropped('it only does something on Windows');
const PROCESS = dropped('vpnns decides how OpenVPN runs');

/**
 * Every option vpnns lets through, and what happens to the dangerous ones. Not listed = refused.
 * The kept ones take only numbers, names and flags; none opens a file or runs a program (checked
 * against the OpenVPN 2.6 manual: an option that gains a file or program argument must move out).
 */
const OPTIONS: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  // --- where and how to connect (remotes are written by vpnns; see interpret)
  ...(['remote', 'port', 'rport', 'proto', 'dev', 'dev-type', 'dev-node', 'resolv-retry', 'disable-dco', 'up-restart', 'proto-force'] as const).map(
    (n) => [n, replaced] as [string, Rule],
  ),
  ...[
    'client', 'tls-client', 'pull', 'nobind', 'bind', 'lport', 'float', 'remote-random', 'connect-retry', 'connect-retry-max',
    'connect-timeout', 'server-poll-timeout', 'explicit-exit-notify', 'persist-key', 'persist-local-ip', 'persist-remote-ip',
    'mark', 'bind-dev', 'passtos', 'socket-flags', 'sndbuf', 'rcvbuf', 'fast-io', 'shaper', 'txqueuelen',
    // tunnel and routes (applied by OpenVPN inside the namespace)
    'topology', 'ifconfig', 'ifconfig-ipv6', 'ifconfig-noexec', 'ifconfig-nowarn', 'route', 'route-ipv6', 'route-gateway',
    'route-ipv6-gateway', 'route-metric', 'route-delay', 'route-noexec', 'route-nopull', 'allow-pull-fqdn', 'redirect-gateway',
    'redirect-private', 'block-ipv6', 'dhcp-option', 'dns', 'pull-filter', 'push-peer-info', 'allow-recursive-routing', 'tun-ipv6',
    'tun-mtu', 'tun-mtu-extra', 'tun-mtu-max', 'link-mtu', 'mtu-disc', 'mtu-test', 'fragment', 'mssfix', 'max-packet-size', 'up-delay',
    // keepalive and timers
    'ping', 'ping-exit', 'ping-restart', 'ping-timer-rem', 'keepalive', 'inactive', 'session-timeout', 'remap-usr1',
    // crypto (names and numbers only)
    'cipher', 'data-ciphers', 'data-ciphers-fallback', 'ncp-ciphers', 'auth', 'prng', 'replay-window', 'mute-replay-warnings', 'no-replay',
    'tls-version-min', 'tls-version-max', 'tls-cipher', 'tls-ciphersuites', 'tls-groups', 'tls-cert-profile', 'ecdh-curve',
    'tls-timeout', 'reneg-sec', 'reneg-bytes', 'reneg-pkts', 'hand-window', 'tran-window', 'single-session', 'tls-exit', 'key-direction',
    'remote-cert-tls', 'remote-cert-ku', 'remote-cert-eku', 'verify-x509-name', 'ns-cert-type', 'x509-track', 'peer-fingerprint', 'verify-hash',
    'compat-mode', 'comp-lzo', 'compress', 'comp-noadapt', 'allow-compression', 'disable-occ',
    // credentials from vpn.auth or the inline block (see interpret for the file form)
    'auth-retry', 'auth-nocache', 'static-challenge',
    // logging to stdout, which vpnns captures
    'verb', 'mute', 'echo', 'suppress-timestamps', 'machine-readable-output', 'errors-to-stderr',
    // only changes how OpenVPN treats options it does not know; vpnns writes only ones it knows
    'ignore-unknown-option',
    // environment for scripts, named OPENVPN_<name>: inert (setenv itself: see interpret)
    'setenv-safe',
  ].map((n) => [n, keep] as [string, Rule]),

  // --- files: read by vpnns, written inline
  ['ca', file()], ['cert', file()], ['key', file()], ['extra-certs', file()], ['dh', file()], ['crl-verify', file(2)], ['pkcs12', file()],
  ['tls-auth', file(2)], ['tls-crypt', file()], ['tls-crypt-v2', file()], ['secret', file(2)],

  // --- programs and libraries: each would run code as root
  ...['up', 'down', 'down-pre', 'route-up', 'route-pre-down', 'ipchange', 'tls-verify', 'learn-address', 'client-connect',
    'client-disconnect', 'client-crresponse', 'auth-user-pass-verify', 'tls-crypt-v2-verify'].map((n) => [n, SCRIPT] as [string, Rule]),
  ['script-security', refused('only allows scripts, and vpnns runs none from this file (it sets up the tunnel\'s routes and DNS itself); delete the line')],
  ['iproute', refused('makes OpenVPN run another program instead of ip(8) as root; delete the line')],
  ['plugin', refused('loads a library into OpenVPN, which runs as root; vpnns allows no plugins: delete the line')],
  ['providers', refused('loads an OpenSSL provider library into OpenVPN, which runs as root; delete the line (the default provider needs none)')],
  ['engine', refused('loads an OpenSSL engine library into OpenVPN, which runs as root; delete the line and name the key with "key" or a <key> block')],
  ['cryptoapicert', refused('is Windows-only; export the certificate and key and put them in <cert> and <key> blocks')],

  // --- reading or writing files other than the config's own keys
  ['auth-user-pass', keep], // only without a file name; see interpret
  ['askpass', refused('reads the private key\'s passphrase from a file or a console vpnns does not have; remove the passphrase (openssl pkey -in key.pem -out plain.pem, then chmod 600) and name that key with "key"')],
  ['capath', refused('makes OpenVPN read a whole directory as root; put the CA certificates into one file and name it with "ca"')],
  ['tls-export-cert', WRITES('vpnns runs no scripts that would read the exported certificates')],
  ['status', WRITES('"vpnns status" shows the tunnel')],
  ['log', WRITES(`vpnns writes OpenVPN's output to its own log directory`)],
  ['log-append', WRITES(`vpnns writes OpenVPN's output to its own log directory`)],
  ['writepid', WRITES(`"vpnns status" shows OpenVPN's process`)],
  ['replay-persist', WRITES('vpnns starts each run fresh')],
  ['tmp-dir', WRITES('vpnns runs none of the scripts or plugins that need it')],
  ['management', refused('opens a control socket through which any program in the namespace could drive OpenVPN, which runs as root; delete the line ("vpnns status" shows the tunnel)')],
  ['config', refused('includes another file; paste its contents into this one instead')],

  // --- process management: vpnns' job
  ['user', PROCESS], ['group', PROCESS], ['daemon', PROCESS], ['chroot', PROCESS], ['syslog', PROCESS], ['nice', PROCESS], ['mlock', PROCESS],
  ['status-version', dropped('vpnns allows no status file')],
  // a dead tunnel must be visible to the supervisor; with it OpenVPN busy-loops when its tun vanishes (FACTS)
  ['persist-tun', dropped('vpnns restarts OpenVPN with a fresh tunnel when the tunnel dies')],
  ['local', dropped('it binds a host address that does not exist in the namespace')],
  ['remote-random-hostname', dropped('the remotes vpnns writes are addresses')],
  ...['block-outside-dns', 'register-dns', 'ip-win32', 'route-method', 'dhcp-renew', 'dhcp-release', 'dhcp-pre-release', 'tap-sleep',
    'show-net-up', 'win-sys', 'windows-driver', 'allow-nonadmin'].map((n) => [n, WINDOWS] as [string, Rule]),

  // --- cannot work in the namespace
  ['http-proxy', PROXY], ['http-proxy-option', PROXY], ['http-proxy-retry', PROXY], ['http-proxy-timeout', PROXY],
  ['http-proxy-user-pass', PROXY], ['socks-proxy', PROXY], ['socks-proxy-retry', PROXY],
  ['server', SERVER], ['server-bridge', SERVER], ['tls-server', SERVER],
]);

/** Families refused by prefix: each has many members and all of them are dangerous. */
const REFUSED_PREFIXES: Array<[string, Rule]> = [
  ['pkcs11-', refused('makes OpenVPN load a PKCS#11 library as root; export the certificate and key and name them with "cert" and "key"')],
  ['management-', refused('belongs to the management interface, which vpnns does not allow (any program in the namespace could drive OpenVPN through it); delete the line')],
];

/** `setenv NAME value` only reaches scripts, and the only script is vpnns' own: these names are inert there. */
const SETENV_KEPT = /^(UV_[A-Za-z0-9_]+|IV_[A-Za-z0-9_]+|FRIENDLY_NAME|FORWARD_COMPATIBLE|CLIENT_CERT|PUSH_PEER_INFO|SERVER_POLL_TIMEOUT|GENERIC_CONFIG|ALLOW_PASSWORD_SAVE)$/;

function ruleFor(name: string): Rule | undefined {
  const exact = OPTIONS.get(name);
  if (exact) return exact;
  for (const [prefix, rule] of REFUSED_PREFIXES) if (name.startsWith(prefix)) return rule;
  return undefined;
}

/** Names of every option vpnns keeps or reads (for "did you mean" and for tests). */
export function ovpnKnownOptions(): string[] {
  return [...OPTIONS.keys()];
}

const INLINE_BLOCKS = [
  'ca', 'cert', 'key', 'tls-auth', 'tls-crypt', 'tls-crypt-v2', 'extra-certs', 'pkcs12', 'dh', 'secret',
  'crl-verify', 'auth-user-pass', 'peer-fingerprint', 'connection', 'http-proxy-user-pass',
];

/** Blanks as C's isspace() sees them: what OpenVPN skips before a closing tag (JS trim() skips more). */
const LEADING_BLANKS = /^[ \t\v\f\r]*/;
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Why a line cannot be passed to OpenVPN as it is, or undefined. */
function lineProblem(line: string): string | undefined {
  if (CONTROL.test(line)) return 'the line holds a control character; remove it';
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) return `the line is longer than ${MAX_LINE_BYTES} bytes, which OpenVPN would split in two; shorten it`;
  return undefined;
}

/**
 * Whether `body` can go between `<name>` and `</name>` so that OpenVPN reads exactly it: no line
 * OpenVPN would take for the end of the block, none it would split, no control characters.
 * Returns the problem, or undefined.
 */
export function inlineBodyProblem(name: string, body: string): string | undefined {
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const problem = lineProblem(lines[i]!);
    if (problem) return `line ${i + 1} of it: ${problem.replace(/^the line/, 'it')}`;
    if (lines[i]!.replace(LEADING_BLANKS, '').startsWith(`</${name}>`)) return `line ${i + 1} of it would end the <${name}> block early`;
  }
  return undefined;
}

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
    const problem = lineProblem(lines[i]!);
    if (problem) return fail(lineNo, problem);
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
      // Where OpenVPN ends the block: the first line that starts with the closing tag after blanks.
      const close = `</${name}>`;
      let end = i + 1;
      while (end < lines.length && !lines[end]!.replace(LEADING_BLANKS, '').startsWith(close)) {
        const inner = lineProblem(lines[end]!);
        if (inner) return fail(end + 1, `${inner} (inside the <${name}> block of line ${lineNo})`);
        end++;
      }
      if (end >= lines.length) return fail(lineNo, `<${name}> is not closed; add "${close}" after its contents`);
      if (lines[end]!.trim() !== close) return fail(end + 1, `put nothing after "${close}" on its line (OpenVPN would ignore the rest of the line)`);
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
  const cfg: OvpnConfig = { file, items, remotes: [], dns: [], files: [], dropped: [], kept: [] };
  type Defaults = { port?: number; proto?: Proto; family?: 4 | 6 };
  const globals: Defaults = {};
  const pending: Array<{ host: string; port?: number; proto?: Proto; family?: 4 | 6; line: number; block?: Defaults & { line: number } }> = [];
  // Relative file names are relative to the config's directory, or to the last `cd` (as for OpenVPN).
  let base = resolve(file !== undefined ? dirname(file) : '.');

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
  const unknown = (o: OvpnOption): never => {
    const guess = didYouMean(o.name, [...OPTIONS.keys()]);
    return fail(
      o.line,
      `"${o.name}" is not an OpenVPN client option vpnns lets through (it passes only options known to be safe for a process running as root)${guess ? `; did you mean "${guess}"?` : '; delete the line'}`,
    );
  };
  const keepLine = (o: OvpnOption, name: string, args: string[]) => {
    const text = formatLine(name, args);
    if (Buffer.byteLength(text) > MAX_LINE_BYTES) fail(o.line, `the option is longer than ${MAX_LINE_BYTES} bytes once written out, which OpenVPN would split in two; shorten it`);
    cfg.kept.push({ kind: 'line', name, args });
  };
  const drop = (o: OvpnOption, why: string, block?: { line: number }) => {
    cfg.dropped.push({ option: o.name, line: o.line, ...(block ? { connection: block.line } : {}), why });
  };

  /** `setenv opt` means "ignore if unknown": the inner option is checked like any other. */
  const visit = (o: OvpnOption, block: (Defaults & { line: number }) | undefined, viaSetenvOpt = false) => {
    const scope = block ?? globals;
    const rule = ruleFor(o.name);
    if (rule === undefined && o.name !== 'setenv' && o.name !== 'cd' && o.name !== 'mode') {
      if (viaSetenvOpt) return drop(o, 'OpenVPN would ignore it as unknown ("setenv opt"), and vpnns does not know it either', block);
      return unknown(o);
    }
    if (rule?.kind === 'refused') return fail(o.line, `"${o.name}" ${rule.why}`);
    if (o.name === 'auth-user-pass' && o.args.length > 0) {
      return fail(
        o.line,
        `"auth-user-pass ${o.args[0]}" would make OpenVPN, which runs as root, read that file and send it to the server; remove the file name, put the user name and password in a file (user on line 1, password on line 2, chmod 600) and set vpn.auth to its path`,
      );
    }
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
        if (o.args[0] !== 'p2p') return fail(o.line, `"mode" must be p2p for a client (or leave it out)`);
        return;
    }
    if (block) {
      if (rule?.kind === 'file') return fail(o.line, `"${o.name}" cannot be inside a <connection> block; move it after </connection>`);
      // Only the remote and its port and protocol survive: vpnns writes plain remotes instead of the blocks.
      return drop(o, 'vpnns writes plain remotes instead of <connection> blocks, keeping only their remote, port and proto', block);
    }
    switch (o.name) {
      case 'dev':
        if (o.args[0] === undefined) fail(o.line, `"dev" needs a device, e.g. "dev tun"`);
        if (o.args[0]!.startsWith('tap')) fail(o.line, `"dev ${o.args[0]}" (layer 2) is not supported; vpnns runs OpenVPN with "dev tun"`);
        cfg.dev = o.args[0];
        return;
      case 'dev-type':
        if (o.args[0] === 'tap') fail(o.line, `"dev-type tap" (layer 2) is not supported; vpnns runs OpenVPN with "dev-type tun"`);
        return;
      case 'auth-user-pass':
        // With an <auth-user-pass> block anywhere in the file, the block answers it.
        if (!cfg.authUserPass?.inline) cfg.authUserPass = { line: o.line, inline: false };
        return; // not written: the block, or vpnns' own block from vpn.auth, stands for it
      case 'cd':
        if (o.args.length !== 1) return fail(o.line, `"cd" needs one directory`);
        // vpnns reads the files itself, so the directory only changes where it looks; OpenVPN never sees it.
        base = resolve(base, o.args[0]!);
        return;
      case 'setenv': {
        const [envName, ...rest] = o.args;
        if (envName === 'opt') {
          const [inner, ...innerArgs] = rest;
          if (inner === undefined) return fail(o.line, `"setenv opt" needs an option after it`);
          return visit({ kind: 'option', name: inner.startsWith('--') ? inner.slice(2) : inner, args: innerArgs, line: o.line }, undefined, true);
        }
        if (envName === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) return fail(o.line, `"setenv" needs a variable name of letters, digits and "_"`);
        if (!SETENV_KEPT.test(envName)) {
          // LD_PRELOAD or PATH would change how vpnns' own up script runs (as root): verified with OpenVPN 2.6.
          return drop(o, `setenv only reaches scripts, and the one OpenVPN runs under vpnns is vpnns' own; use setenv-safe for a value a server-side script needs`);
        }
        return keepLine(o, 'setenv', o.args);
      }
      case 'setenv-safe':
        if (o.args[0] === undefined || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.args[0])) return fail(o.line, `"setenv-safe" needs a variable name of letters, digits and "_"`);
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
      case 'dh':
        if (o.args.length === 1 && o.args[0] === 'none') return keepLine(o, 'dh', ['none']);
        break;
    }
    switch (rule!.kind) {
      case 'replaced':
        return;
      case 'dropped':
        return drop(o, rule!.why);
      case 'keep': {
        const args = o.name === 'mark' ? o.args.map(decimalMark) : o.args;
        return keepLine(o, viaSetenvOpt ? 'setenv' : o.name, viaSetenvOpt ? ['opt', o.name, ...args] : args);
      }
      case 'file':
        return cfg.kept.push({ kind: 'file', ref: fileRef(o, (rule as { maxArgs: number }).maxArgs) });
    }
  };

  const fileRef = (o: OvpnOption, maxArgs: number): OvpnFileRef => {
    const [path, extra] = o.args;
    if (path === undefined || o.args.length > maxArgs) {
      return fail(o.line, `"${o.name}" takes ${maxArgs === 1 ? 'one file name' : 'a file name and at most one more argument'}; or put the file's contents in a <${o.name}> block`);
    }
    if (/^\[\[?inline\]\]?$/i.test(path)) return fail(o.line, `"${o.name} ${path}" is not needed with a <${o.name}> block; delete the line (use "key-direction" for a direction)`);
    if (path === '') return fail(o.line, `"${o.name}" needs a file name`);
    let direction: '0' | '1' | undefined;
    if (extra !== undefined) {
      if (o.name === 'crl-verify') {
        return fail(o.line, `"crl-verify ${path} ${extra}" makes OpenVPN read a directory as root; put the CRLs into one file and name it with "crl-verify"`);
      }
      if (extra !== '0' && extra !== '1') return fail(o.line, `the key direction after "${o.name} ${path}" must be 0 or 1`);
      direction = extra;
    }
    const ref: OvpnFileRef = { option: o.name, block: o.name, path, resolved: isAbsolute(path) ? resolve(path) : resolve(base, path), line: o.line, ...(direction ? { direction } : {}) };
    cfg.files.push(ref);
    return ref;
  };

  for (const item of items) {
    if (item.kind === 'option') visit(item, undefined);
    else if (item.kind === 'connection') {
      const block = { line: item.line };
      for (const o of item.options) visit(o, block);
    } else {
      if (item.name === 'http-proxy-user-pass') fail(item.line, `<http-proxy-user-pass> is not supported: the namespace only lets OpenVPN reach its remotes; remove it or use a config without a proxy`);
      const problem = inlineBodyProblem(item.name, item.body);
      if (problem) fail(item.line, `the <${item.name}> block cannot be passed on: ${problem}`);
      if (item.name === 'auth-user-pass') cfg.authUserPass = { line: item.line, inline: true };
      cfg.kept.push({ kind: 'inline', name: item.name, body: item.body });
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

/** What each file option must hold, so a config naming /etc/shadow as its `ca` gets nothing out of it. */
const FILE_CONTENT: Record<string, { pem: RegExp; what: string } | 'der'> = {
  ca: { pem: /^-----BEGIN (X509 |TRUSTED )?CERTIFICATE-----$/m, what: 'a PEM certificate' },
  cert: { pem: /^-----BEGIN (X509 |TRUSTED )?CERTIFICATE-----$/m, what: 'a PEM certificate' },
  'extra-certs': { pem: /^-----BEGIN (X509 |TRUSTED )?CERTIFICATE-----$/m, what: 'a PEM certificate' },
  key: { pem: /^-----BEGIN ((RSA|EC|DSA|ENCRYPTED) )?PRIVATE KEY-----$/m, what: 'a PEM private key' },
  dh: { pem: /^-----BEGIN (X9\.42 )?DH PARAMETERS-----$/m, what: 'PEM DH parameters' },
  'crl-verify': { pem: /^-----BEGIN X509 CRL-----$/m, what: 'a PEM CRL' },
  'tls-auth': { pem: /^-----BEGIN OpenVPN Static key V1-----$/m, what: 'an OpenVPN static key' },
  'tls-crypt': { pem: /^-----BEGIN OpenVPN Static key V1-----$/m, what: 'an OpenVPN static key' },
  secret: { pem: /^-----BEGIN OpenVPN Static key V1-----$/m, what: 'an OpenVPN static key' },
  'tls-crypt-v2': { pem: /^-----BEGIN OpenVPN tls-crypt-v2 client key-----$/m, what: 'an OpenVPN tls-crypt-v2 client key' },
  pkcs12: 'der',
};

/**
 * The inline block body for a file the config names, from the file's bytes. Refuses (naming the
 * option's line and the path, never the contents) a file that does not hold what the option needs,
 * so reading a root-only file on behalf of a hostile config yields nothing but "not a certificate".
 */
export function ovpnFileBody(cfg: Pick<OvpnConfig, 'file'>, ref: OvpnFileRef, bytes: Buffer): string {
  const fail = (detail: string): never => {
    throw new VpnConfigError(detail, { file: cfg.file, line: ref.line });
  };
  const expect = FILE_CONTENT[ref.option];
  if (expect === undefined) throw new Error(`ovpnFileBody: ${ref.option} is not a file option`);
  if (expect === 'der') {
    // PKCS#12 is DER (an ASN.1 SEQUENCE); OpenVPN reads an inline one as base64.
    if (bytes.length < 4 || bytes[0] !== 0x30) fail(`"${ref.option}" names ${ref.path}, which is not a PKCS#12 file; name the .p12 file your VPN provider gave you`);
    return bytes.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  }
  const text = bytes.toString('utf8').replace(/\r\n/g, '\n').replace(/\n+$/, '');
  if (!expect.pem.test(text)) fail(`"${ref.option}" names ${ref.path}, which does not hold ${expect.what}; name the file your VPN provider gave you`);
  const problem = inlineBodyProblem(ref.block, text);
  if (problem) fail(`"${ref.option}" names ${ref.path}, which cannot be passed on inline: ${problem}`);
  return text;
}

export interface OvpnRenderOptions {
  /** The resolved remotes, in the order OpenVPN should try them. */
  remotes: Array<{ ip: string; port: number; proto: Proto }>;
  /** The tunnel's name inside the namespace. */
  dev: string;
  /** The user name and password (from vpn.auth); replace the config's own auth-user-pass, written inline. */
  auth?: { username: string; password: string };
  /** The contents of cfg.files, by line (ovpnFileBody's result); every one must be there. */
  files?: ReadonlyMap<number, string>;
  /** Absolute path of the script that receives the pushed DNS (run with `up`, again on restarts). */
  upScript?: string;
  /** Exported to the up script as VPNNS_STATE_DIR. */
  stateDir?: string;
  /** SO_MARK for OpenVPN's own packets, so the kill switch can let them out. */
  mark?: number;
  /** The user and group OpenVPN switches to once its tunnel is open. */
  runAs?: { user: string; group: string };
}

export interface OvpnRendered {
  /** The config file; it holds keys and maybe credentials: write it 0600. */
  text: string;
  /** The user's options left out that change behaviour (= cfg.dropped): warn about them. */
  dropped: OvpnDropped[];
}

/** `up (line 14)`, `nobind (line 7, in the <connection> of line 5)`. */
export function describeDropped(d: OvpnDropped): string {
  return `${d.option} (line ${d.line}${d.connection !== undefined ? `, in the <connection> of line ${d.connection}` : ''})`;
}

/**
 * The config vpnns runs: the user's kept options in their order (files named by the config written
 * as inline blocks), inline blocks verbatim, then vpnns' own lines, which come last so they win.
 * It names no file of the user's. Deterministic.
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
  if (opts.auth !== undefined) {
    const body = `${opts.auth.username}\n${opts.auth.password}`;
    if (opts.auth.username === '' || opts.auth.password.includes('\n') || opts.auth.username.includes('\n') || inlineBodyProblem('auth-user-pass', body)) {
      throw new Error('renderOvpnForNamespace: credentials that cannot be written inline (check them with ovpnAuthProblem first)');
    }
  }

  const block = (name: string, body: string) => [`<${name}>`, ...(body === '' ? [] : [body]), `</${name}>`];
  const out: string[] = [];
  out.push(`# Written by vpnns${cfg.file !== undefined ? ` from ${cfg.file}` : ''}; edit that file, not this one.`);
  for (const k of cfg.kept) {
    if (k.kind === 'line') {
      if (k.name === 'mark' && opts.mark !== undefined) continue;
      out.push(formatLine(k.name, k.args));
    } else if (k.kind === 'inline') {
      if (k.name === 'auth-user-pass' && opts.auth !== undefined) continue;
      out.push(...block(k.name, k.body));
    } else {
      const body = opts.files?.get(k.ref.line);
      if (body === undefined) throw new Error(`renderOvpnForNamespace: no contents for "${k.ref.option} ${k.ref.path}" (line ${k.ref.line})`);
      // A file read from disk gets the same check as a block in the config.
      if (inlineBodyProblem(k.ref.block, body)) throw new Error(`renderOvpnForNamespace: contents of ${k.ref.path} cannot be written inline`);
      out.push(...block(k.ref.block, body));
      if (k.ref.direction !== undefined) out.push(`key-direction ${k.ref.direction}`);
    }
  }

  out.push('# vpnns');
  out.push(formatLine('dev', [opts.dev]), 'dev-type tun', 'disable-dco');
  for (const r of opts.remotes) out.push(formatLine('remote', [r.ip, String(r.port), r.proto]));
  if (opts.auth !== undefined) out.push(...block('auth-user-pass', `${opts.auth.username}\n${opts.auth.password}`));
  if (opts.stateDir !== undefined) out.push(formatLine('setenv', ['VPNNS_STATE_DIR', opts.stateDir]));
  if (opts.upScript !== undefined) out.push('script-security 2', formatLine('up', [opts.upScript]), 'up-restart');
  // Decimal only: OpenVPN reads "0x5150" as 0 without a word.
  if (opts.mark !== undefined) out.push(`mark ${opts.mark}`);
  if (opts.runAs !== undefined) out.push(formatLine('user', [opts.runAs.user]), formatLine('group', [opts.runAs.group]));
  return { text: out.join('\n') + '\n', dropped: [...cfg.dropped] };
}

/**
 * The user name and password from a vpn.auth file (user on line 1, password on line 2, as for
 * OpenVPN's own auth-user-pass file), or the problem with it as the rest of a sentence.
 */
export function parseOvpnAuth(text: string): { username: string; password: string } | string {
  const [username = '', password] = text.replace(/\r\n/g, '\n').split('\n');
  if (username === '' || password === undefined || password === '') return 'put the user name on line 1 and the password on line 2';
  const problem = inlineBodyProblem('auth-user-pass', `${username}\n${password}`);
  if (problem) return `the user name or password cannot be passed to OpenVPN: ${problem.replace(/^line \d+ of it: /, '')}`;
  return { username, password };
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
