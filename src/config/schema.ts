// The single source of truth for the YAML config: a small declarative schema from which load.ts
// validates (with messages), toJsonSchema() derives the editor schema, and docs.ts the reference table.

import { NAMESPACE_HINT, NAMESPACE_PATTERN } from './namespace-name.js';
import { LIB_DIR } from './paths.js';
import { formatIPv4, isIP, isLoopback, parseCidr4, parseHostPort } from './net-utils.js';
import { allowConflict, checkAllowTo, type AllowConfig } from './exceptions.js';

/** A problem found by a hook; `key` names the child the line should point at. */
export interface Issue { key?: string; detail: string }
type Json = Record<string, unknown>;

interface Common {
  /** One line, shown in the JSON Schema and the docs table. */
  description: string;
  default?: unknown;
  required?: boolean;
  /** Overrides the generated type or default in the docs table. */
  docType?: string;
  docDefault?: string;
}
export interface StringSchema extends Common {
  kind: 'string';
  enum?: readonly string[];
  pattern?: RegExp;
  /** What the pattern allows, in words: "expected <hint>, got …". */
  hint?: string;
  /** Semantic check beyond the pattern; returns the message detail. */
  check?: (value: string) => string | undefined;
  /** Resolve relative to the config file's directory (`ifSlash`: only when it contains a `/`, else it is a command name). */
  path?: 'always' | 'ifSlash';
  /** Extra JSON Schema keywords for what `check` enforces. */
  json?: Json;
}
export interface IntegerSchema extends Common { kind: 'integer'; min?: number; max?: number }
export interface BooleanSchema extends Common { kind: 'boolean' }
export interface ArraySchema extends Common {
  kind: 'array';
  items: Schema;
  minItems?: number;
  maxItems?: number;
  /** A single item is accepted in place of a list. */
  single?: boolean;
}
export interface MapSchema extends Common { kind: 'map'; values: Schema; keyPattern: RegExp; keyHint: string }
export interface ObjectSchema extends Common {
  kind: 'object';
  fields: Record<string, Schema>;
  /** A bare value is accepted and means `{[shorthand]: value}`. */
  shorthand?: string;
  /** Cross-field checks, after the fields are valid. */
  refine?: (value: Record<string, unknown>) => Issue | undefined;
  normalize?: (value: Record<string, unknown>) => Record<string, unknown>;
}
export interface UnionSchema extends Common { kind: 'union'; tag: string; variants: Record<string, ObjectSchema> }
export type Schema = StringSchema | IntegerSchema | BooleanSchema | ArraySchema | MapSchema | ObjectSchema | UnionSchema;

type Opts<T> = Omit<T, 'kind' | 'description'>;
// The builders keep what was written (literal enums, whether a default or `required` is there, the
// fields) in their types, so ConfigOf below can say what loading a schema yields. `NoInfer`: the
// options' type comes from the argument alone; else a builder nested in a field list takes the
// surrounding `Schema` as its options and the literals are lost. A callback among the options
// names its parameter's type (`check: (v: string) => …`): a generic option object gives it none.
export const str = <const O extends Opts<StringSchema> = {}>(description: string, o: O = {} as O): StringSchema & NoInfer<O> =>
  ({ kind: 'string', description, ...o });
export const int = <const O extends Opts<IntegerSchema> = {}>(description: string, o: O = {} as O): IntegerSchema & NoInfer<O> =>
  ({ kind: 'integer', description, ...o });
export const bool = <D extends boolean | undefined = undefined>(description: string, dflt?: D): BooleanSchema & { default: NoInfer<D> } =>
  ({ kind: 'boolean', description, default: dflt as D });
export const list = <I extends Schema, const O extends Omit<Opts<ArraySchema>, 'items'> = {}>(items: I, description: string, o: O = {} as O):
  Omit<ArraySchema, 'items'> & { items: NoInfer<I> } & NoInfer<O> => ({ kind: 'array', items, description, ...o });
export const map = <V extends Schema, const O extends Omit<Opts<MapSchema>, 'values'>>(values: V, description: string, o: O):
  Omit<MapSchema, 'values'> & { values: NoInfer<V> } & NoInfer<O> => ({ kind: 'map', values, description, ...o });
export const obj = <F extends Record<string, Schema>, const O extends Omit<Opts<ObjectSchema>, 'fields'> = {}>(description: string, fields: F, o: O = {} as O):
  Omit<ObjectSchema, 'fields'> & { fields: NoInfer<F> } & NoInfer<O> => ({ kind: 'object', fields, description, ...o });
export const union = <T extends string, V extends Record<string, ObjectSchema>, const O extends Omit<Opts<UnionSchema>, 'tag' | 'variants'> = {}>(
  description: string, tag: T, variants: V, o: O = {} as O,
): Omit<UnionSchema, 'tag' | 'variants'> & { tag: NoInfer<T>; variants: NoInfer<V> } & NoInfer<O> => ({ kind: 'union', tag, variants, description, ...o });

// ---- what loading a schema yields, as a type ----

/**
 * Whether load.ts always puts a value there: a default, `required`, or an object none of whose
 * fields is required (load.ts builds it from its fields' defaults). Else the key may be absent.
 */
type Present<S> = S extends { required: true } ? true
  : S extends { default: infer D } ? (undefined extends D ? NoRequiredFields<S> : true)
  : NoRequiredFields<S>;
type NoRequiredFields<S> = S extends { kind: 'object'; fields: infer F } ? (true extends { [K in keyof F]: F[K] extends { required: true } ? true : never }[keyof F] ? false : true) : false;

type Flat<T> = { [K in keyof T]: T[K] } & {};
type FieldsOf<F> = Flat<
  { -readonly [K in keyof F as Present<F[K]> extends true ? K : never]: ConfigOf<F[K]> } &
  { -readonly [K in keyof F as Present<F[K]> extends true ? never : K]?: ConfigOf<F[K]> }
>;

/**
 * The value load.ts produces for schema `S` after defaults: strings (their `enum` as literals),
 * numbers, booleans, arrays, string-keyed maps, objects and tagged unions. Objects' `normalize`
 * hooks are not seen here; config/types.ts states their effect and checks itself against this.
 */
export type ConfigOf<S> =
  S extends { kind: 'string'; enum: readonly (infer E)[] } ? E
  : S extends { kind: 'string' } ? string
  : S extends { kind: 'integer' } ? number
  : S extends { kind: 'boolean' } ? boolean
  : S extends { kind: 'array'; items: infer I } ? ConfigOf<I>[]
  : S extends { kind: 'map'; values: infer V } ? Record<string, ConfigOf<V>>
  : S extends { kind: 'object'; fields: infer F } ? FieldsOf<F>
  : S extends { kind: 'union'; tag: infer T extends string; variants: infer V } ? { [N in keyof V & string]: Flat<{ [K in T]: N } & ConfigOf<V[N]>> }[keyof V & string]
  : never;

// ---- value checks shared by several keys ----

const quote = (s: string) => JSON.stringify(s);
const IP_JSON = { anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] };

const ip = (description: string) =>
  str(description, { docType: 'IP address', json: IP_JSON, check: (v: string) => (isIP(v) ? undefined : `expected an IPv4 or IPv6 address, got ${quote(v)}`) });
const ipList = <const O extends Omit<Opts<ArraySchema>, 'items'> = {}>(description: string, o: O = {} as O) =>
  list(ip('An IPv4 or IPv6 address.'), description, { docType: 'list of IP addresses', ...o });
const port = <D extends number | undefined = undefined>(description: string, dflt?: D) => int(description, { min: 1, max: 65535, default: dflt as D });

function checkSubnet(v: string): string | undefined {
  const c = v.includes('/') ? parseCidr4(v) : null;
  if (!c) return `expected an IPv4 network like 10.0.0.0/30, got ${quote(v)}`;
  if (c.prefix < 24 || c.prefix > 30) {
    const p = c.prefix < 24 ? 24 : 30;
    return `expected a prefix between /24 and /30, got /${c.prefix}; use e.g. ${formatIPv4(parseCidr4(`${formatIPv4(c.address)}/${p}`)!.network)}/${p}`;
  }
  return c.address === c.network ? undefined : `expected a network address (host bits zero), got ${v}; use ${formatIPv4(c.network)}/${c.prefix}`;
}

function checkBindAddress(v: string): string | undefined {
  const hp = parseHostPort(v);
  return hp.ok && isIP(hp.host) ? undefined : `expected ADDR:PORT like 127.0.0.1:8080 or [::1]:8080, got ${quote(v)}`;
}

function checkLoopbackListen(v: string): string | undefined {
  const hp = parseHostPort(v);
  if (!hp.ok || !isIP(hp.host)) return `expected a loopback ADDR:PORT like 127.0.0.1:9477 or [::1]:9477, got ${quote(v)}`;
  return isLoopback(hp.host) ? undefined : `expected a loopback address (127.0.0.0/8 or [::1]), got ${hp.host}; use 127.0.0.1:${hp.port}`;
}

function checkEndpoint(v: string): string | undefined {
  const m = /^(.*)\/(udp|tcp)$/.exec(v);
  // parseHostPort accepts exactly an IP address or a host name, as parseEndpointSpec does at `up`.
  if (m && parseHostPort(m[1]!).ok) return undefined;
  return `expected HOST:PORT/udp or HOST:PORT/tcp like 198.51.100.7:51820/udp or [2001:db8::1]:443/tcp, got ${quote(v)}`;
}

function checkUrl(v: string): string | undefined {
  try {
    if (['http:', 'https:'].includes(new URL(v).protocol)) return undefined;
  } catch { /* fall through to the message */ }
  return `expected an http:// or https:// URL, got ${quote(v)}`;
}

// ---- the vpnns config ----

const argv = <const O extends Omit<Opts<ArraySchema>, 'items'> = {}>(description: string, o: O = {} as O) =>
  list(str('One argument.'), description, { minItems: 1, docType: 'list of strings (argv)', ...o });

const publishEntry = obj(
  'A namespace port published on the host; a bare integer N means {port: N}.',
  {
    port: port('Port inside the namespace, and on the host when `host` is not set.'),
    host: str('Host address to listen on, ADDR:PORT ([v6]:PORT for IPv6).', { check: checkBindAddress, docDefault: '`127.0.0.1:<port>`', docType: 'ADDR:PORT', json: { pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[0-9.]+):[0-9]{1,5}$' } }),
    target: int('Port inside the namespace when it differs from `port`.', { min: 1, max: 65535, docDefault: '`port`' }),
    via: str(
      'What carries the connections. `forwarder`: a supervised vpnns process holds the host port (a port in use fails at `up`, it is restarted and shown in `status`; IPv4 and IPv6 binds), and on an IPv4 loopback address the kernel carries this host\'s connections (nftables DNAT in vpnns\'s host table: ~1x the direct path\'s throughput and latency against ~0.4x and 2x for the process; `route_localnet` on vpnns\'s veth, fenced); [::1] and LAN binds are relayed by the process. `relay`: the process relays every connection, nothing in the kernel. `kernel`: DNAT only, no process (IPv4 binds only; a host program later listening on the same address and port is shadowed).',
      { enum: ['forwarder', 'relay', 'kernel'], default: 'forwarder' },
    ),
  },
  {
    shorthand: 'port',
    refine: (v: Record<string, unknown>) => {
      if (v.port === undefined && v.target === undefined) return { detail: 'expected `port` or `target` to be set; add e.g. `port: 8080`' };
      if (v.via === 'kernel' && typeof v.host === 'string' && v.host.startsWith('[')) {
        return { key: 'host', detail: `via: kernel publishes IPv4 addresses only (the kernel cannot NAT [::1] into the namespace), got ${v.host}; use 127.0.0.1 or via: forwarder` };
      }
      return undefined;
    },
    normalize: (v: Record<string, unknown>) => {
      const target = (v.target ?? v.port) as number;
      return { ...v, host: v.host ?? `127.0.0.1:${v.port ?? target}`, target };
    },
  },
);
const publishList = (description: string) => list(publishEntry, description, { default: [], docType: 'list of publish entries' });

const vpnCommon = {
  connectTimeout: int('Seconds to wait for the tunnel to come up before `up` fails.', { min: 1, max: 600, default: 30 }),
  resolveWith: ipList("DNS servers used on the host to resolve the VPN server's name; default: the host's resolver.", { minItems: 1 }),
};

const vpn = union('The VPN client that is the namespace\'s only way out.', 'type', {
  none: obj('No VPN: the namespace goes out through the host (for testing).', {}),
  wireguard: obj('WireGuard (kernel module, else wireguard-go).', {
    config: str('wg-quick file, relative to the config file.', { required: true, path: 'always', docType: 'path' }),
    implementation: str('`auto` uses the kernel module when present, else wireguard-go.', { enum: ['auto', 'kernel', 'userspace'], default: 'auto' }),
    ...vpnCommon,
  }),
  openvpn: obj('OpenVPN 2.x.', {
    config: str('.ovpn file, relative to the config file.', { required: true, path: 'always', docType: 'path' }),
    auth: str('auth-user-pass file (user on line 1, password on line 2), relative to the config file.', { path: 'always', docType: 'path' }),
    ...vpnCommon,
  }),
  adguard: obj('AdGuard VPN CLI.', {
    location: str('Location to connect to (see `adguardvpn-cli list-locations`); default: the fastest.'),
    binary: str('Command name or path of adguardvpn-cli (a path is relative to the config file).', { default: 'adguardvpn-cli', path: 'ifSlash', docType: 'command or path' }),
    home: str(`HOME for adguardvpn-cli: its login and settings (\`vpnns adguard login\` uses the same); default ${LIB_DIR}/<namespace>/adguard.`, { path: 'always', docType: 'path' }),
    ...vpnCommon,
  }),
  command: obj('Any client, started and stopped by commands run inside the namespace.', {
    start: argv('Command that starts the client.', { required: true }),
    stop: argv('Command that stops the client; default: signal the start command.'),
    interface: str('Tunnel interface the start command creates.', { required: true, pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/, hint: 'an interface name of 1 to 15 letters, digits, `_`, `.` or `-`' }),
    endpoints: list(str('HOST:PORT/udp or HOST:PORT/tcp.', { check: checkEndpoint }), 'Servers the client talks to, allowed through the kill switch; default: match the client by group.', { minItems: 1, docType: 'list of HOST:PORT/PROTO' }),
    dns: ipList('DNS servers the VPN provides.', { minItems: 1 }),
    ...vpnCommon,
  }),
}, { default: { type: 'none' } });

const proxy = <E extends Record<string, Schema> = {}>(name: string, dfltPort: number, extra: E = {} as E, refine?: ObjectSchema['refine']) =>
  obj(`${name} proxy in the namespace, reachable from the host over the veth link.`, {
    enabled: bool(`Run the ${name} proxy.`, true),
    port: port('Port it listens on in the namespace.', dfltPort),
    publish: bool("Also listen on the host's 127.0.0.1 at the same port.", false),
    ...extra,
  }, { refine });

export const APP_PROFILES = ['code-server', 'kilo'] as const;

const app = obj('An application run in the namespace.', {
  command: argv('Command to run; for a profile app, the program the profile adds its options to (default: `code-server`, `kilocode` or `kilo` found on the PATH).'),
  profile: str('Built-in profile: `code-server` (web editor, published, password) or `kilo` (Kilo CLI, run by `vpnns kilo`); default: the app\'s name when it names one.', { enum: APP_PROFILES }),
  user: str('User to run as; default: the user who invoked vpnns.', { pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?$/, hint: 'a user name or uid' }),
  env: map(str('Value.'), 'Environment variables added for the app.', { default: {}, keyPattern: /^[A-Za-z_][A-Za-z0-9_]*$/, keyHint: 'a variable name of letters, digits and `_`', docType: 'map of strings' }),
  publish: publishList('Ports of this app published on the host.'),
  requireVpn: bool('Refuse to start the app unless the tunnel is up.', true),
  autostart: bool('Start the app with `vpnns up`.', false),
  port: port('Port the app listens on (profile option).'),
  auth: str('Authentication of the app\'s web UI (profile option).', { enum: ['password', 'none'] }),
});

/** code-server listens on `port` (8080) with a password and is published on the host's 127.0.0.1 at the same port. */
function normalizeApps(apps: Record<string, Record<string, unknown>>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, a] of Object.entries(apps)) {
    const profile = a.profile ?? ((APP_PROFILES as readonly string[]).includes(name) ? name : undefined);
    if (profile !== 'code-server') {
      out[name] = a;
      continue;
    }
    const port = (a.port as number | undefined) ?? 8080;
    const publish = (a.publish as Array<{ target?: number }> | undefined) ?? [];
    const published = publish.some((p) => p.target === port);
    out[name] = {
      ...a,
      port,
      auth: a.auth ?? 'password',
      publish: published ? publish : [...publish, { port, host: `127.0.0.1:${port}`, target: port, via: 'forwarder' }],
    };
  }
  return out;
}

const allowEntry = obj(
  'An exact exception: traffic from inside to `to` (and `port`, `proto`) leaves over the link to the host instead of the tunnel.',
  {
    to: str('Numeric IPv4 address or network ADDR/PREFIX (/8 to /32, host bits zero); no host names, no IPv6, not 0.0.0.0/0, loopback, the link itself or the VPN server.', {
      required: true, check: checkAllowTo, docType: 'ADDR[/PREFIX]', json: { pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}(/([89]|[12][0-9]|3[0-2]))?$' },
    }),
    port: port('Destination port; omitted: every port of `to` for `proto` (`up` warns).'),
    proto: str('Transport protocol.', { enum: ['tcp', 'udp'], default: 'tcp' }),
  },
);

const hostServiceEntry = obj(
  "A service on the host's 127.0.0.1 reachable inside the namespace at 127.0.0.1:`port`; a bare integer N means {port: N}.",
  {
    port: int('Port on 127.0.0.1 inside the namespace.', { min: 1, max: 65535, required: true }),
    target: int("Port on the host's 127.0.0.1 when it differs from `port`.", { min: 1, max: 65535, docDefault: '`port`' }),
  },
  {
    shorthand: 'port',
    normalize: (v: Record<string, unknown>) => ({ ...v, target: v.target ?? v.port }),
  },
);

/** Numeric endpoints of a `command` VPN, known before anything is resolved. */
function numericEndpoints(vpn: Record<string, unknown>): string[] {
  const eps = (vpn.endpoints as string[] | undefined) ?? [];
  return eps.map((e) => parseHostPort(e.replace(/\/(udp|tcp)$/, ''))).flatMap((hp) => (hp.ok && isIP(hp.host) ? [hp.host] : []));
}

/** A host service whose target is one of vpnns's own loopback publications would loop the namespace back into itself. */
function ownLoopbackPorts(v: Record<string, unknown>): Set<number> {
  const out = new Set<number>();
  for (const p of v.publish as Array<{ host: string }>) {
    const hp = parseHostPort(p.host);
    if (hp.ok && isLoopback(hp.host)) out.add(hp.port);
  }
  const px = v.proxies as Record<string, { enabled: boolean; publish: boolean; port: number }>;
  for (const k of ['socks', 'http']) if (px[k]!.enabled && px[k]!.publish) out.add(px[k]!.port);
  return out;
}

function refineExceptions(v: Record<string, unknown>): Issue | undefined {
  const allow = (v.allow as AllowConfig[] | undefined) ?? [];
  const subnet = (v.network as { subnet: string }).subnet;
  const c = allowConflict(allow, subnet, numericEndpoints(v.vpn as Record<string, unknown>));
  if (c) return { key: 'allow', detail: `allow[${c.index}]: ${c.detail}` };
  const seen = new Set<number>();
  const own = ownLoopbackPorts(v);
  // Ports apps listen on inside (code-server's default 8080 is filled in by normalize, after this).
  const appPorts = new Map<number, string>();
  for (const [name, a] of Object.entries(v.apps as Record<string, { port?: number; profile?: string }>)) {
    const port = a.port ?? ((a.profile ?? name) === 'code-server' ? 8080 : undefined);
    if (port !== undefined) appPorts.set(port, name);
  }
  for (const [i, s] of ((v.hostServices as Array<{ port: number; target?: number }> | undefined) ?? []).entries()) {
    if (seen.has(s.port)) return { key: 'hostServices', detail: `hostServices[${i}]: port ${s.port} is listed twice; give each entry its own port` };
    seen.add(s.port);
    const app = appPorts.get(s.port);
    if (app !== undefined) return { key: 'hostServices', detail: `hostServices[${i}]: port ${s.port} is where app ${app} listens inside; choose another \`port\` (and keep \`target\` for the host's)` };
    const target = s.target ?? s.port;
    if (own.has(target)) return { key: 'hostServices', detail: `hostServices[${i}]: the host's 127.0.0.1:${target} is a port vpnns publishes from the namespace itself; choose the host service's own port` };
  }
  return undefined;
}

export const configSchema = obj('vpnns configuration.', {
  namespace: str('Network namespace name; also names its interfaces, state and units.', {
    default: 'vpn-ns', pattern: NAMESPACE_PATTERN, hint: NAMESPACE_HINT,
  }),
  network: obj('The veth link between the host and the namespace.', {
    subnet: str('IPv4 network of the link, /24 to /30: the host end gets the first usable address, the namespace the second.', {
      default: '10.0.0.0/30', check: checkSubnet, docType: 'IPv4 CIDR', json: { pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/(2[4-9]|30)$' },
    }),
    ipv6: bool('Allow IPv6 in the namespace; `false` disables it there so nothing leaks around a v4-only tunnel.', false),
    mtu: int('MTU of the link; default: the kernel\'s (1500).', { min: 576, max: 9000 }),
  }),
  dns: ipList("Resolvers in the namespace (at most 3); default: the VPN's own, else 1.1.1.1.", { minItems: 1, maxItems: 3 }),
  vpn,
  killSwitch: bool('Reject all traffic from the namespace that does not leave through the tunnel.', true),
  proxies: obj('Proxies that let host programs use the tunnel.', {
    socks: proxy('SOCKS5', 1080, {
      username: str('SOCKS user name; set together with `password`.', { pattern: /^[^\s:]{1,255}$/, hint: '1 to 255 characters without spaces or `:`' }),
      password: str('SOCKS password; set together with `username`.', { pattern: /^\S{1,255}$/, hint: '1 to 255 characters without spaces' }),
    }, (v) => ((v.username === undefined) === (v.password === undefined) ? undefined
      : { key: v.username === undefined ? 'password' : 'username', detail: `expected \`username\` and \`password\` together; add \`${v.username === undefined ? 'username' : 'password'}\` or remove \`${v.username === undefined ? 'password' : 'username'}\`` })),
    http: proxy('HTTP', 1090),
  }, {
    refine: (v: Record<string, unknown>) => {
      const s = v.socks as { enabled: boolean; port: number };
      const h = v.http as { enabled: boolean; port: number };
      return s.enabled && h.enabled && s.port === h.port ? { key: 'http', detail: `expected a port other than the SOCKS proxy's ${s.port}; change \`proxies.http.port\`` } : undefined;
    },
  }),
  publish: publishList('Namespace ports published on the host.'),
  allow: list(allowEntry, 'Exact exceptions to the tunnel (a LAN host, a local registry): each leaves over the link to the host, unencrypted and from this machine\'s own address; everything else stays in the tunnel or blocked, DNS included unless listed.', { docDefault: 'none', docType: 'list of {to, port, proto}' }),
  hostServices: list(hostServiceEntry, "Services on the host's loopback made reachable inside at 127.0.0.1 (e.g. a local model server on 11434), each carried by a supervised forwarder to exactly one host port.", { docDefault: 'none', docType: 'list of {port, target}' }),
  apps: map(app, 'Applications to run in the namespace, by name.', {
    default: {}, keyPattern: /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, keyHint: 'a name of 1 to 32 letters, digits, `_` or `-`', docType: 'map of apps',
  }),
  sandbox: obj('Local channels: sockets through which a program inside could make a program OUTSIDE the namespace act for it (a tmux server, the systemd user manager). `exec`, `kilo` and apps run in a private mount namespace where each channel set to `false` is covered (empty tmpfs, /dev/null) and its variables unset; `true` leaves it reachable. Abstract sockets (`@/tmp/.X11-unix/X0`) are per network namespace and never reachable from inside.', {
    tmux: bool('tmux servers: `/tmp/tmux-UID` and `$TMUX_TMPDIR/tmux-UID` (`tmux send-keys` runs commands outside), and Zellij\'s `/tmp/zellij-UID`; `TMUX` unset.', false),
    screen: bool('GNU screen sessions: `/run/screen`, `~/.screen`, `$SCREENDIR`; `STY` unset.', false),
    userBus: bool('The session D-Bus and the systemd user manager: `/run/user/UID/bus`, `/run/user/UID/systemd` (`systemd-run --user` starts anything outside); `DBUS_SESSION_BUS_ADDRESS` unset.', false),
    systemBus: bool('The system D-Bus and systemd-resolved: `/run/dbus/system_bus_socket`, `/run/systemd/resolve` (lookups with the host\'s resolver).', false),
    nscd: bool('nscd: `/run/nscd` (cached lookups with the host\'s resolver).', false),
    x11: bool('X11 displays: `/tmp/.X11-unix`; `DISPLAY`, `XAUTHORITY` unset.', false),
    wayland: bool('Wayland compositors: `/run/user/UID/wayland-*`; `WAYLAND_DISPLAY` unset.', false),
    sshAgent: bool('ssh-agent: `$SSH_AUTH_SOCK`, `/run/user/UID/ssh-agent*`, `openssh_agent`, `gcr`, `keyring/ssh`; `SSH_AUTH_SOCK` unset.', false),
    gpgAgent: bool('gpg-agent: `/run/user/UID/gnupg`, `~/.gnupg/S.*`.', false),
    keyring: bool('GNOME keyring: `/run/user/UID/keyring`.', false),
    audio: bool('PulseAudio and PipeWire: `/run/user/UID/pulse`, `/run/user/UID/pipewire-*`.', false),
    sshControl: bool('ssh ControlMaster sockets: every socket of yours in `~/.ssh` and one directory below, as the launch finds them (`ssh -S` rides a connection made outside); one made later or elsewhere is not covered: see SECURITY.md.', false),
    editors: bool('Editor servers outside: VS Code\'s and code-server\'s IPC sockets `/tmp/vscode-*.sock` (the `code` CLI installs extensions that run outside), the Emacs server `/tmp/emacsUID`, Neovim\'s `/tmp/nvim.USER`; the rest of them live in `/run/user/UID` (`runtimeDir`); `VSCODE_IPC_HOOK_CLI`, `VSCODE_GIT_IPC_HANDLE` unset.', false),
    runtimeDir: bool('Everything else in `/run/user/UID` (rootless Podman\'s API, VS Code\'s IPC, the Emacs server, the accessibility bus, whatever a program of yours starts there later): inside, a fresh empty directory of yours, with only the channels set to `true` above bound back into it.', false),
    docker: bool('Docker: `/run/docker.sock`, `/run/user/UID/docker.sock`. Reachable by default; whoever reaches it is root on the host and can run containers outside the namespace (`false` hides it and unsets `DOCKER_HOST`).', true),
  }),
  check: obj('What `vpnns check` measures with, and the IP check of the health checks.', {
    echoUrl: list(str('An http(s) URL.', { check: checkUrl, json: { format: 'uri', pattern: '^https?://' } }),
      'URLs that answer with the caller\'s IP address as text (or JSON with an `ip` field); one URL or a list.', {
        single: true, minItems: 1, default: ['https://api.ipify.org', 'https://ifconfig.me/ip'], docType: 'URL or list of URLs',
      }),
    echoUrl6: list(str('An http(s) URL.', { check: checkUrl, json: { format: 'uri', pattern: '^https?://' } }),
      'URLs reached over IPv6 only that answer with the caller\'s IPv6 address; one URL or a list.', {
        single: true, minItems: 1, default: ['https://api6.ipify.org'], docType: 'URL or list of URLs',
      }),
    dnsWhoami: str('Name whose TXT or A answer identifies the resolver that asked (its address or name); `{random}` is replaced by a fresh label to defeat caches.', {
      default: 'whoami.akamai.net', pattern: /^(\{random\}\.)?[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/,
      hint: 'a DNS name such as whoami.akamai.net, optionally starting with `{random}.`', docType: 'DNS name',
    }),
    hostDns: ipList('Resolvers the host uses, asked the same whoami question for comparison (and used to resolve echo names on the host).', {
      minItems: 1, docDefault: '`vpn.resolveWith`, else the host\'s resolv.conf',
    }),
    timeout: int('Seconds each measurement may take.', { min: 1, max: 60, default: 5 }),
  }),
  supervisor: obj('Supervision of the processes vpnns runs.', {
    healthInterval: int('Seconds between health checks of the tunnel (interface, handshake, client status).', { min: 1, max: 3600, default: 10 }),
    probeInterval: int('Seconds between probes through the tunnel: an HTTP(S) request to the first `check.echoUrl` (DNS lookup included) whose answer must differ from the host\'s own egress address; 0 turns probes off.', { min: 0, max: 86400, default: 60 }),
    probeFailures: int('Consecutive failed probes after which the VPN client is restarted.', { min: 1, max: 100, default: 3 }),
  }),
  metrics: obj('Prometheus metrics endpoint.', {
    enabled: bool('Serve metrics.', false),
    listen: str('Loopback ADDR:PORT to serve them on (127.0.0.0/8 or [::1]).', { default: '127.0.0.1:9477', check: checkLoopbackListen, docType: 'ADDR:PORT' }),
  }),
  logDir: str('Directory for the logs of the daemons vpnns runs.', { default: '/var/log/vpnns', pattern: /^\//, hint: 'an absolute path', docType: 'path' }),
}, {
  refine: refineExceptions,
  normalize: (v: Record<string, unknown>) => ({ ...v, apps: normalizeApps(v.apps as Record<string, Record<string, unknown>>) }),
});

// ---- JSON Schema (draft 2020-12) ----

export function toJsonSchema(s: Schema): Json {
  const base: Json = { description: s.description };
  if (s.default !== undefined) base.default = s.default;
  switch (s.kind) {
    case 'string':
      return { type: 'string', ...base, ...(s.enum && { enum: s.enum }), ...(s.pattern && { pattern: s.pattern.source }), ...s.json };
    case 'integer':
      return { type: 'integer', ...base, ...(s.min !== undefined && { minimum: s.min }), ...(s.max !== undefined && { maximum: s.max }) };
    case 'boolean':
      return { type: 'boolean', ...base };
    case 'array': {
      const array = { type: 'array', items: toJsonSchema(s.items), ...(s.minItems !== undefined && { minItems: s.minItems }), ...(s.maxItems !== undefined && { maxItems: s.maxItems }) };
      return s.single ? { ...base, anyOf: [toJsonSchema(s.items), array] } : { ...array, ...base };
    }
    case 'map':
      return { type: 'object', ...base, propertyNames: { pattern: s.keyPattern.source }, additionalProperties: toJsonSchema(s.values) };
    case 'object': {
      const object = objectJson(s.fields);
      return s.shorthand ? { ...base, anyOf: [toJsonSchema(s.fields[s.shorthand]!), object] } : { ...base, ...object };
    }
    case 'union':
      return {
        type: 'object', ...base,
        oneOf: Object.entries(s.variants).map(([name, v]) => ({
          description: v.description,
          ...objectJson({ [s.tag]: { kind: 'string', description: v.description, enum: [name] }, ...v.fields }, [s.tag]),
        })),
      };
  }
}

function objectJson(fields: Record<string, Schema>, alsoRequired: string[] = []): Json {
  const required = [...alsoRequired, ...Object.keys(fields).filter((k) => fields[k]!.required)];
  const properties = Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, toJsonSchema(f)]));
  return { type: 'object', properties, ...(required.length > 0 && { required }), additionalProperties: false };
}

/** The exact text of schema/vpnns.schema.json. */
export function renderJsonSchema(): string {
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'vpnns configuration',
    ...toJsonSchema(configSchema),
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}
