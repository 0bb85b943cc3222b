// Prometheus metrics: the supervisor's status rendered in the text exposition format (pure), and
// a tiny HTTP server for it that binds only to a loopback address — the endpoint tells whoever can
// reach it whether the VPN is up, which is nobody else's business.
import { createServer, type Server } from 'node:http';
import { isLoopback, parseHostPort } from '../config/net-utils.js';
import type { SupervisorStatus } from '../core/status.js';

export interface MetricsInput {
  status: SupervisorStatus;
  namespace: string;
  vpnType: string;
  /** Latency of the last successful probe through the tunnel; undefined when it failed or none ran. */
  probeLatencyMs?: number;
  /** Epoch ms; for uptimes. */
  now?: number;
}

type Kind = 'gauge' | 'counter';
type Labels = Record<string, string>;

/** Label values are quoted strings: backslash, double quote and newline must be escaped. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

class Exposition {
  private readonly out: string[] = [];

  family(name: string, kind: Kind, help: string, samples: Array<[Labels, number | undefined]>): void {
    const present = samples.filter((s): s is [Labels, number] => s[1] !== undefined);
    // A family with no sample is left out entirely: "unknown" is not 0.
    if (!present.length) return;
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${kind}`);
    for (const [labels, value] of present) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
      this.out.push(`${name}${l.length ? `{${l.join(',')}}` : ''} ${value}`);
    }
  }

  text(): string {
    return this.out.join('\n') + '\n';
  }
}

export function renderMetrics(m: MetricsInput): string {
  const now = m.now ?? Date.now();
  const e = new Exposition();
  const comps = Object.entries(m.status.components).sort(([a], [b]) => a.localeCompare(b));
  const vpn = m.status.components.vpn;
  const detail = vpn?.detail ?? {};
  const seconds = (iso: string | undefined) => (iso && Number.isFinite(Date.parse(iso)) ? Date.parse(iso) / 1000 : undefined);

  e.family('vpnns_up', 'gauge', 'The vpnns supervisor is running (1).', [[{}, 1]]);
  e.family('vpnns_info', 'gauge', 'The namespace and VPN type this supervisor serves.', [[{ namespace: m.namespace, vpn: m.vpnType }, 1]]);
  e.family('vpnns_supervisor_start_time_seconds', 'gauge', 'When the supervisor started, in seconds since the epoch.', [[{}, seconds(m.status.startedAt)]]);
  if (m.vpnType !== 'none') {
    // The health check stores the provider's own verdict in detail.connected; before the first
    // check, a running client counts as connected (it only runs once connected).
    const connected = vpn?.state === 'running' && detail.connected !== false;
    e.family('vpnns_vpn_connected', 'gauge', 'The VPN client is running and its tunnel is connected (1) or not (0).', [[{}, connected ? 1 : 0]]);
  }
  e.family(
    'vpnns_component_up',
    'gauge',
    'The component is running (1) or not (0): starting, in backoff, waiting for the tunnel, failed or stopped.',
    comps.map(([name, c]) => [{ component: name }, c.state === 'running' ? 1 : 0]),
  );
  e.family(
    'vpnns_component_restarts_total',
    'counter',
    'Restarts of the component since the supervisor started.',
    comps.map(([name, c]) => [{ component: name }, c.restarts]),
  );
  e.family(
    'vpnns_component_uptime_seconds',
    'gauge',
    'Seconds the component has been running; 0 when it is not running.',
    comps.map(([name, c]) => {
      const since = seconds(c.since);
      return [{ component: name }, c.state !== 'running' || since === undefined ? 0 : Math.max(0, Math.round(now / 1000 - since))];
    }),
  );
  e.family(
    'vpnns_component_restart_storm',
    'gauge',
    'The component restarted too often in the storm window (1): it keeps being restarted, with the longest backoff.',
    comps.map(([name, c]) => [{ component: name }, c.detail?.storm === true ? 1 : 0]),
  );
  if (m.vpnType === 'wireguard') {
    e.family('vpnns_wireguard_handshake_age_seconds', 'gauge', 'Seconds since the last WireGuard handshake, at the last health check.', [[{}, num(detail.handshakeAge)]]);
  }
  const probed = typeof detail.probedAt === 'string';
  e.family('vpnns_probe_success', 'gauge', 'The last probe through the tunnel (an HTTP request to check.echoUrl) succeeded (1) or failed (0).', [
    [{}, probed ? (detail.probeError === undefined && detail.egressIp !== undefined ? 1 : 0) : undefined],
  ]);
  e.family('vpnns_probe_latency_seconds', 'gauge', 'Duration of the last successful probe through the tunnel, DNS lookup included.', [
    [{}, m.probeLatencyMs === undefined ? undefined : m.probeLatencyMs / 1000],
  ]);
  // Counters of the current tunnel: they start again from 0 when the client is restarted, which
  // Prometheus's rate() treats as a counter reset.
  e.family('vpnns_tunnel_rx_bytes_total', 'counter', 'Bytes received through the tunnel by the current VPN client, at the last health check.', [[{}, num(detail.rxBytes)]]);
  e.family('vpnns_tunnel_tx_bytes_total', 'counter', 'Bytes sent through the tunnel by the current VPN client, at the last health check.', [[{}, num(detail.txBytes)]]);
  return e.text();
}

export interface MetricsServer {
  /** The address actually bound, e.g. "127.0.0.1:9477". */
  address: string;
  close(): Promise<void>;
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Serves `render()` at /metrics on `listen` ("127.0.0.1:9477", "[::1]:9477"). Refuses anything
 * but a loopback address even though the config already checks it: this is the last place that
 * could expose the endpoint. Rejects when the port is taken.
 */
export async function serveMetrics(listen: string, render: () => string): Promise<MetricsServer> {
  const hp = parseHostPort(listen);
  if (!hp.ok) throw new Error(`metrics.listen: expected a loopback ADDR:PORT like 127.0.0.1:9477, got "${listen}"`);
  if (!isLoopback(hp.host)) throw new Error(`metrics.listen: ${hp.host} is not a loopback address; the metrics endpoint listens only on 127.0.0.0/8 or [::1]`);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      let body: string;
      try {
        body = render();
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`could not render metrics: ${(err as Error).message}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('vpnns metrics: /metrics\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
  });
  // Scrapers hold connections open; they must not keep a stopping supervisor alive.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: hp.host, port: hp.port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address();
  const address = a && typeof a === 'object' ? (a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`) : listen;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
