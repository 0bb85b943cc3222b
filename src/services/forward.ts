// Published ports: the process spec of the forwarder that carries host connections into the
// namespace. The supervisor and the systemd unit both run exactly this argv.
//
// The forwarder is our own single-process Node relay (forwarder-main.ts). socat moves bulk data with
// less CPU (`-b 1048576`: 0.6-0.8x of the direct veth vs 0.2-0.5x for Node), but forks per
// connection (new connections 7-21x slower than direct vs 2-6x, 500 connections = 501 processes,
// default backlog 5 strands bursts) and cuts half-closed streams after 0.5 s. No user-space relay
// reaches 0.8x of the direct path on 2 cores (a copy in and out per byte), so in the default
// (`via: forwarder`) on 127.0.0.1 the process only holds the port and the kernel carries the host's
// connections (hasKernelFastPath in publish.ts, DNAT in firewall/host-table.ts); it relays [::1]
// and LAN binds, and everything under `via: relay`. `via: kernel` is DNAT with no process.
// Numbers: BENCHMARKS.md, bench/RESULTS-forward.md.
import { fileURLToPath } from 'node:url';
import { formatHostPort, parseHostPort, type HostPort } from '../config/net-utils.js';

export interface ForwardSpec {
  name: string;
  listen: HostPort;
  target: HostPort;
}

export interface ProcessSpec {
  name: string;
  argv: string[];
  env?: Record<string, string>;
}

export interface ForwarderRuntime {
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of the compiled forwarder-main.js. */
  script: string;
}

/** The node running vpnns and the forwarder shipped next to this module. */
export function defaultForwarderRuntime(): ForwarderRuntime {
  return {
    node: process.execPath,
    script: fileURLToPath(new URL('./forwarder-main.js', import.meta.url)),
  };
}

/**
 * "ADDR:PORT" or "[V6ADDR]:PORT" as the forwarder's argv and `vpnns publish remove` take it
 * (config/net-utils.ts reads it); throws naming the offending text.
 */
export function requireHostPort(text: string): HostPort {
  const hp = parseHostPort(text);
  if (!hp.ok) throw new Error(`expected ADDR:PORT or [IPv6]:PORT with a port from 1 to 65535, got "${text}"`);
  return { host: hp.host, port: hp.port };
}

/** What a forwarder listens on or connects to: a TCP address or a Unix socket (a host service's two halves meet on one). */
export type Endpoint = HostPort | { path: string };

/** "unix:/abs/path" or ADDR:PORT. */
export function parseEndpoint(text: string): Endpoint {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (!/^\/[A-Za-z0-9_./-]{1,100}$/.test(path) || path.split('/').includes('..')) throw new Error(`expected unix:/ABSOLUTE/PATH, got "${text}"`);
    return { path };
  }
  return requireHostPort(text);
}

export function formatEndpoint(e: Endpoint): string {
  return 'path' in e ? `unix:${e.path}` : formatHostPort(e);
}

export function forwardProcess(spec: ForwardSpec, runtime: ForwarderRuntime = defaultForwarderRuntime()): ProcessSpec {
  return {
    name: spec.name,
    argv: [runtime.node, runtime.script, '--listen', formatHostPort(spec.listen), '--target', formatHostPort(spec.target)],
  };
}
