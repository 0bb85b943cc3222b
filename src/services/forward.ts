// Published ports: the process spec of the forwarder that carries host connections into the
// namespace. The supervisor and the systemd unit both run exactly this argv.
//
// The forwarder is our own single-process Node relay (forwarder-main.ts), the default. socat moves
// bulk data with less CPU (`-b 1048576`: 0.6-0.8x of the direct veth vs 0.2-0.5x for Node), but
// forks per connection (new connections 7-21x slower than direct vs 2-6x, 500 connections = 501
// processes, default backlog 5 strands bursts) and cuts half-closed streams after 0.5 s.
// For bulk throughput a publication can say `via: kernel` instead: nftables DNAT in the host table
// (firewall/host-table.ts), ~1x the direct path, IPv4 only, nothing to supervise.
// Published ports carry app UIs and WebSockets, where connection latency matters more than
// multi-Gbit/s bulk. Numbers: bench/RESULTS-forward.md.
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

export function forwardProcess(spec: ForwardSpec, runtime: ForwarderRuntime = defaultForwarderRuntime()): ProcessSpec {
  return {
    name: spec.name,
    argv: [runtime.node, runtime.script, '--listen', formatHostPort(spec.listen), '--target', formatHostPort(spec.target)],
  };
}
