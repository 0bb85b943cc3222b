// The processes the supervisor runs besides the VPN client: proxies, published-port forwarders, apps.
// Each is a ProcessSpec rendered from the config — the same spec the systemd units use.
import type { Config } from '../config/types.js';
import type { Names } from './names.js';
import type { ProcessSpec } from '../sys/process.js';
import type { System } from '../sys/system.js';

export interface ServiceSpec {
  name: string;
  process: ProcessSpec;
  /** Start only once the tunnel is up. */
  needsTunnel: boolean;
  /** Also stop when the tunnel goes down and start again with the new one (Dante binds the tunnel); default: needsTunnel. Apps say false: a VPN restart must not kill them. */
  followsTunnel?: boolean;
  /** Not started with the supervisor, only on request (`vpnns app start`; apps without autostart). */
  manual?: boolean;
  /** How long SIGTERM has before SIGKILL (default 2 s). */
  stopGraceMs?: number;
  /** Write config files etc. before each start. */
  prepare?: (sys: System, ctx: { tunnel?: string }) => Promise<void>;
  logFile?: string;
  /** What else its start depends on beyond `process` (files prepare() writes): a change restarts it. */
  key?: string;
}

type Contributor = (cfg: Config, names: Names) => ServiceSpec[];
const contributors: Contributor[] = [];

/** Proxies, forwards and apps register here, so the supervisor does not depend on each of them. */
export function registerServices(c: Contributor): void {
  contributors.push(c);
}

export function serviceSpecs(cfg: Config, names: Names): ServiceSpec[] {
  return contributors.flatMap((c) => c(cfg, names));
}
