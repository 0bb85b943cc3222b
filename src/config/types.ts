// The validated, defaulted configuration. The schema in schema.ts is the source of truth for
// what a user may write; this is the shape the rest of the code receives after loading. The build
// fails when the two disagree (ConfigMatchesSchema at the end of this file).

import type { AllowConfig, HostServiceConfig } from './exceptions.js';

export type VpnType = 'none' | 'wireguard' | 'openvpn' | 'adguard' | 'command';

interface VpnCommon {
  /** Seconds to wait for the tunnel to come up before `up` fails. */
  connectTimeout: number;
  /** DNS servers used on the host to resolve the VPN server's name (default: the host's resolver). */
  resolveWith?: string[];
}

export interface VpnNone { type: 'none' }
export interface VpnWireguard extends VpnCommon {
  type: 'wireguard';
  /** Absolute path of a wg-quick file. */
  config: string;
  /** auto: kernel module when present, else wireguard-go. */
  implementation: 'auto' | 'kernel' | 'userspace';
}
export interface VpnOpenvpn extends VpnCommon {
  type: 'openvpn';
  /** Absolute path of the .ovpn file. */
  config: string;
  /** Absolute path of an auth-user-pass file (user on line 1, password on line 2). */
  auth?: string;
}
export interface VpnAdguard extends VpnCommon {
  type: 'adguard';
  location?: string;
  /** Path or name of adguardvpn-cli. */
  binary: string;
  /** HOME for adguardvpn-cli (its login and settings); default <LIB_DIR>/<namespace>/adguard (config/paths.ts). */
  home?: string;
}
export interface VpnCommand extends VpnCommon {
  type: 'command';
  start: string[];
  stop?: string[];
  /** The tunnel interface the command creates inside the namespace. */
  interface: string;
  /** Endpoints the client talks to, "ip:port/udp" or "host:port/tcp"; without them the client's packets are matched by group. */
  endpoints?: string[];
  dns?: string[];
}
export type VpnConfig = VpnNone | VpnWireguard | VpnOpenvpn | VpnAdguard | VpnCommand;

export interface ProxyConfig {
  enabled: boolean;
  port: number;
  /** Also listen on the host's 127.0.0.1 at the same port. */
  publish: boolean;
}
export interface SocksProxyConfig extends ProxyConfig {
  username?: string;
  password?: string;
}

export interface PublishConfig {
  /** Port inside the namespace (target) and on the host when `host` is not given. */
  port?: number;
  /** "ADDR:PORT" on the host; default 127.0.0.1:<port>. */
  host?: string;
  /** Port inside the namespace; default `port`. */
  target?: number;
  /** A vpnns forwarder process with the kernel fast path (default), the process alone, or nftables DNAT alone. */
  via?: PublishVia;
  /** Added at run time by `vpnns publish add` (never in a config file). */
  added?: true;
}

export type PublishVia = 'forwarder' | 'relay' | 'kernel';

export type AppProfile = 'code-server' | 'kilo';

export interface AppConfig {
  /** The program (for a profile app: the program the profile adds its options to). */
  command?: string[];
  /** Built-in profile; unset means the app's name when it names one. */
  profile?: AppProfile;
  /** Unset in the file means the invoking user; `up` fills it in before saving its state. */
  user?: string;
  env: Record<string, string>;
  publish: PublishConfig[];
  requireVpn: boolean;
  autostart: boolean;
  /** Profile options (code-server). */
  port?: number;
  auth?: 'password' | 'none';
}

/** Which of the user's local channels to programs outside stay reachable from inside (true) or are hidden (false). */
export interface SandboxConfig {
  tmux: boolean;
  screen: boolean;
  userBus: boolean;
  systemBus: boolean;
  nscd: boolean;
  x11: boolean;
  wayland: boolean;
  sshAgent: boolean;
  gpgAgent: boolean;
  keyring: boolean;
  audio: boolean;
  sshControl: boolean;
  editors: boolean;
  runtimeDir: boolean;
  docker: boolean;
}

export interface Config {
  namespace: string;
  network: {
    subnet: string;
    ipv6: boolean;
    mtu?: number;
  };
  /** Resolvers inside the namespace; unset means the VPN's own, else 1.1.1.1. */
  dns?: string[];
  vpn: VpnConfig;
  killSwitch: boolean;
  proxies: {
    socks: SocksProxyConfig;
    http: ProxyConfig;
  };
  publish: PublishConfig[];
  /** Exact exceptions to the tunnel (config/exceptions.ts); absent in state saved by older versions. */
  allow?: AllowConfig[];
  /** Host loopback services reachable inside; absent in state saved by older versions. */
  hostServices?: HostServiceConfig[];
  apps: Record<string, AppConfig>;
  /** Local channels of `exec`, `kilo` and apps (src/sandbox/channels.ts); absent in state saved by older versions: the defaults. */
  sandbox?: SandboxConfig;
  check: {
    /** URLs that answer with the caller's IP address as text (or JSON with an `ip` field). */
    echoUrl: string[];
    /** The same over IPv6 only: any answer from inside is IPv6 egress. */
    echoUrl6: string[];
    /** Name whose TXT/A answer identifies the resolver that asked; `{random}` becomes a fresh label. */
    dnsWhoami: string;
    /** The host's resolvers, for comparison; default vpn.resolveWith, else /etc/resolv.conf. */
    hostDns?: string[];
    /** Seconds per measurement. */
    timeout: number;
  };
  supervisor: {
    /** Seconds between health checks. */
    healthInterval: number;
    /** Seconds between probes through the tunnel (0: off). */
    probeInterval: number;
    /** Consecutive failed probes before the client is restarted. */
    probeFailures: number;
  };
  metrics: {
    enabled: boolean;
    /** host:port on the host, loopback only. */
    listen: string;
  };
  /** Directory for logs of the daemons vpnns runs. */
  logDir: string;
  /** Absolute path of the file the config came from, if any. */
  source?: string;
}

// ---- the hand-kept shape above, checked against the schema at compile time ----
// The interfaces above carry the comments and names the code uses; the schema (schema.ts) is what a
// file may say. So that the two cannot drift apart, the build fails unless Config is exactly what
// load.ts produces from the schema (ConfigOf), but for what the schema cannot say:
// - `source`: set by load.ts, not a key of the file;
// - `sandbox` may be absent: state saved by an older vpnns has none (readers use the defaults);
// - a publish entry's `via` may be absent and `added` present: `vpnns publish add` makes entries
//   that never went through load.ts;
// - normalize hooks: a publish entry's `host` and `target` are filled in, and a code-server app's
//   `port` and `auth`, but the types keep them optional for the entries `publish add` makes.
// When the check fails, compare `Config` with `Loaded` key by key (hover in an editor).
import type { configSchema, ConfigOf } from './schema.js';

type Loaded = ConfigOf<typeof configSchema>;
type LoadedPublish = Loaded['publish'][number];
type LoadedApp = Loaded['apps'][string];
type HandPublish = Omit<LoadedPublish, 'via'> & { via?: LoadedPublish['via']; added?: true };
type Expected = Omit<Loaded, 'sandbox' | 'publish' | 'apps'> & {
  sandbox?: Loaded['sandbox'];
  publish: HandPublish[];
  apps: Record<string, Omit<LoadedApp, 'publish'> & { publish: HandPublish[] }>;
  source?: string;
};

/** Object types flattened all the way down (intersections merged, unions kept), so two spellings of one shape compare equal. */
type Deep<T> = T extends (infer U)[] ? Deep<U>[] : T extends (...args: never[]) => unknown ? T : T extends object ? { [K in keyof T]: Deep<T[K]> } : T;
/** True only when X and Y are the same type (optional and required keys differ; so do extra keys). */
export type Equals<X, Y> = (<T>() => T extends X ? 1 : 2) extends (<T>() => T extends Y ? 1 : 2) ? true : false;
/** Equals after flattening: `A & B` and the object literal with the keys of both count as the same shape. */
export type SameShape<X, Y> = Equals<Deep<X>, Deep<Y>>;
export type Assert<T extends true> = T;
export type ConfigMatchesSchema = Assert<SameShape<Config, Expected>>;
