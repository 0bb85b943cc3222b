// One interface for every VPN client. A provider decides (prepare: parse, resolve, render files)
// and runs (start: spawn inside the namespace, wait until connected); the supervisor owns restarts.
import type { Config, VpnConfig } from '../config/types.js';
import type { ClientTraffic } from '../core/client-traffic.js';
import type { Names } from '../core/names.js';
import type { System } from '../sys/system.js';
import type { Running } from '../sys/process.js';

export interface VpnContext {
  sys: System;
  cfg: Config;
  names: Names;
  /** Directory for rendered client files (0700, under /run/vpnns/<ns>). */
  dir: string;
  logDir: string;
  log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
  /**
   * The first client start in a namespace `up` has just made (its supervisor was started with it):
   * no tunnel of an earlier client can be there, so none is looked for and deleted first.
   */
  freshNamespace?: boolean;
}

/** What prepare decided; stored in the state file, so it is plain JSON. */
export interface PreparedVpn {
  type: VpnConfig['type'];
  /** How the kill switch recognises the client's own packets. */
  clientTraffic: ClientTraffic[];
  /** DNS known before connecting (WireGuard DNS=, command dns). */
  dns?: string[];
  /** Interface name(s) the tunnel will have; a trailing * matches a prefix. */
  tunnel: string;
  /** For status: endpoint(s), implementation, location... */
  info: Record<string, unknown>;
  warnings: string[];
}

export interface VpnSession {
  process?: Running;
  /** Resolves when the client is gone (process exit, or tunnel gone for clients without a process). */
  ended: Promise<string>;
  /** DNS learned while connecting (OpenVPN push). */
  dns?: string[];
  /** The actual tunnel interface. */
  tunnel: string;
  stop(): Promise<void>;
}

export interface VpnStatus {
  connected: boolean;
  tunnel?: string;
  endpoint?: string;
  /** Seconds since the last WireGuard handshake. */
  handshakeAge?: number;
  rxBytes?: number;
  txBytes?: number;
  detail?: string;
}

export interface VpnProvider {
  /** Programs that must be installed. */
  tools(): string[];
  prepare(ctx: VpnContext): Promise<PreparedVpn>;
  /** Start and wait until connected (bounded by vpn.connectTimeout); rejects with a clear error and leaves nothing running. */
  start(ctx: VpnContext, prepared: PreparedVpn): Promise<VpnSession>;
  status(ctx: VpnContext, prepared: PreparedVpn): Promise<VpnStatus>;
}

/** Group the client runs with when its packets are matched by socket owner (no fixed endpoint). */
export const CLIENT_GID = 51820;

/**
 * Firewall mark the client sets on its own sockets (WireGuard FwMark, OpenVPN --mark): setting
 * SO_MARK needs CAP_NET_ADMIN over the namespace, which no user process inside has (root of a user
 * namespace neither: the namespace belongs to the initial one), so the kill switch can tell the
 * client's packets from a user's packets to the same server.
 */
export const CLIENT_MARK = 51820;
