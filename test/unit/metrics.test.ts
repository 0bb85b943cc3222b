import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { escapeLabel, renderMetrics, serveMetrics, METRICS_CONTENT_TYPE } from '../../src/supervisor/metrics.js';
import type { SupervisorStatus } from '../../src/core/status.js';

const NOW = Date.parse('2026-01-01T00:10:00.000Z');

function status(): SupervisorStatus {
  return {
    pid: 42,
    startedAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:09:59.000Z',
    components: {
      vpn: {
        state: 'running',
        since: '2026-01-01T00:08:20.000Z',
        restarts: 2,
        pid: 100,
        detail: { tunnel: 'vt-x', connected: true, handshakeAge: 12, rxBytes: 1234, txBytes: 567, probedAt: '2026-01-01T00:09:00.000Z', egressIp: '198.51.100.10', probeLatencyMs: 40 },
      },
      socks: { state: 'backoff', since: '2026-01-01T00:09:58.000Z', restarts: 11, lastError: 'exited (SIGKILL)', detail: { retryInMs: 30000, storm: true } },
      'forward-18080': { state: 'running', since: '2026-01-01T00:00:01.000Z', restarts: 0, pid: 101 },
    },
  };
}

/** name{labels} -> value, and the HELP/TYPE lines seen per family. */
function parse(text: string): { samples: Map<string, number>; types: Map<string, string>; helps: Set<string> } {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const helps = new Set<string>();
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  for (const line of text.trimEnd().split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^# HELP (\w+) .+$/.exec(line))) helps.add(m[1]!);
    else if ((m = /^# TYPE (\w+) (gauge|counter)$/.exec(line))) types.set(m[1]!, m[2]!);
    else if ((m = /^(\w+(?:\{[^}]*\})?) (-?[\d.e+-]+)$/.exec(line))) samples.set(m[1]!, Number(m[2]));
    else assert.fail(`not a valid exposition line: ${line}`);
  }
  return { samples, types, helps };
}

test('renderMetrics: up, connected, per-component up/restarts/uptime/storm, handshake, probe, bytes', () => {
  const { samples, types, helps } = parse(renderMetrics({ status: status(), namespace: 'vpn-ns', vpnType: 'wireguard', probeLatencyMs: 40, now: NOW }));
  assert.equal(samples.get('vpnns_up'), 1);
  assert.equal(samples.get('vpnns_info{namespace="vpn-ns",vpn="wireguard"}'), 1);
  assert.equal(samples.get('vpnns_supervisor_start_time_seconds'), Date.parse('2026-01-01T00:00:00.000Z') / 1000);
  assert.equal(samples.get('vpnns_vpn_connected'), 1);
  assert.equal(samples.get('vpnns_component_up{component="vpn"}'), 1);
  assert.equal(samples.get('vpnns_component_up{component="socks"}'), 0);
  assert.equal(samples.get('vpnns_component_restarts_total{component="vpn"}'), 2);
  assert.equal(samples.get('vpnns_component_restarts_total{component="socks"}'), 11);
  assert.equal(samples.get('vpnns_component_restarts_total{component="forward-18080"}'), 0);
  assert.equal(samples.get('vpnns_component_uptime_seconds{component="vpn"}'), 100);
  assert.equal(samples.get('vpnns_component_uptime_seconds{component="socks"}'), 0);
  assert.equal(samples.get('vpnns_component_restart_storm{component="socks"}'), 1);
  assert.equal(samples.get('vpnns_component_restart_storm{component="vpn"}'), 0);
  assert.equal(samples.get('vpnns_wireguard_handshake_age_seconds'), 12);
  assert.equal(samples.get('vpnns_probe_success'), 1);
  assert.equal(samples.get('vpnns_probe_latency_seconds'), 0.04);
  assert.equal(samples.get('vpnns_tunnel_rx_bytes_total'), 1234);
  assert.equal(samples.get('vpnns_tunnel_tx_bytes_total'), 567);
  assert.equal(types.get('vpnns_component_restarts_total'), 'counter');
  assert.equal(types.get('vpnns_tunnel_rx_bytes_total'), 'counter');
  assert.equal(types.get('vpnns_vpn_connected'), 'gauge');
  for (const family of types.keys()) assert.ok(helps.has(family), `HELP for ${family}`);
});

test('renderMetrics: a VPN in backoff is not connected; unknown numbers are left out, not 0', () => {
  const s = status();
  s.components.vpn = { state: 'backoff', since: '2026-01-01T00:09:59.000Z', restarts: 3, lastError: 'exited (SIGKILL)', detail: { retryInMs: 0 } };
  const text = renderMetrics({ status: s, namespace: 'n', vpnType: 'wireguard', now: NOW });
  const { samples } = parse(text);
  assert.equal(samples.get('vpnns_vpn_connected'), 0);
  assert.equal(samples.get('vpnns_component_up{component="vpn"}'), 0);
  for (const absent of ['vpnns_wireguard_handshake_age_seconds', 'vpnns_probe_latency_seconds', 'vpnns_probe_success', 'vpnns_tunnel_rx_bytes_total']) {
    assert.doesNotMatch(text, new RegExp(`^${absent}`, 'm'));
    assert.doesNotMatch(text, new RegExp(`# TYPE ${absent} `), 'no TYPE line for a family without samples');
  }
});

test('renderMetrics: the provider saying "not connected" wins over a running client; failed probe is 0', () => {
  const s = status();
  s.components.vpn!.detail = { ...s.components.vpn!.detail, connected: false, probeError: 'curl: (28) timeout', egressIp: undefined };
  const { samples } = parse(renderMetrics({ status: s, namespace: 'n', vpnType: 'wireguard', now: NOW }));
  assert.equal(samples.get('vpnns_vpn_connected'), 0);
  assert.equal(samples.get('vpnns_probe_success'), 0);
  assert.equal(samples.has('vpnns_probe_latency_seconds'), false);
});

test('renderMetrics: no VPN means no connected gauge; OpenVPN has no handshake age', () => {
  const none = renderMetrics({ status: { ...status(), components: {} }, namespace: 'n', vpnType: 'none', now: NOW });
  assert.doesNotMatch(none, /vpnns_vpn_connected/);
  assert.match(none, /^vpnns_up 1$/m);
  const ovpn = renderMetrics({ status: status(), namespace: 'n', vpnType: 'openvpn', now: NOW });
  assert.doesNotMatch(ovpn, /handshake/);
  assert.match(ovpn, /^vpnns_vpn_connected 1$/m);
});

test('label values are escaped', () => {
  assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const s = status();
  s.components = { 'we"ird': { state: 'running', since: '2026-01-01T00:00:00.000Z', restarts: 1 } };
  assert.match(renderMetrics({ status: s, namespace: 'n', vpnType: 'none', now: NOW }), /^vpnns_component_restarts_total\{component="we\\"ird"\} 1$/m);
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test('serveMetrics: serves /metrics on loopback with the Prometheus content type; 404 and 405 otherwise', async () => {
  const port = await freePort();
  let n = 0;
  const server = await serveMetrics(`127.0.0.1:${port}`, () => `vpnns_up 1\n# ${++n}\n`);
  try {
    assert.equal(server.address, `127.0.0.1:${port}`);
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), METRICS_CONTENT_TYPE);
    assert.equal(await r.text(), 'vpnns_up 1\n# 1\n');
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), 'vpnns_up 1\n# 2\n', 'rendered per request');
    assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST', body: 'x' })).status, 405);
  } finally {
    await server.close();
  }
  await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'closed');
});

test('serveMetrics: a render error is a 500, not a crash', async () => {
  const port = await freePort();
  const server = await serveMetrics(`127.0.0.1:${port}`, () => {
    throw new Error('boom');
  });
  try {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(r.status, 500);
    assert.match(await r.text(), /boom/);
  } finally {
    await server.close();
  }
});

test('serveMetrics: refuses every address that is not loopback, and malformed ones', async () => {
  for (const listen of ['0.0.0.0:9477', '203.0.113.10:9477', '[::]:9477', '[2001:db8::1]:9477', '10.0.0.1:9477', 'localhost:9477']) {
    await assert.rejects(serveMetrics(listen, () => ''), /not a loopback address/, listen);
  }
  for (const listen of ['127.0.0.1', '127.0.0.1:99999', 'nonsense']) {
    await assert.rejects(serveMetrics(listen, () => ''), /expected a loopback ADDR:PORT/, listen);
  }
});

test('serveMetrics: a port already taken rejects (the supervisor logs it and carries on)', async () => {
  const port = await freePort();
  const first = await serveMetrics(`127.0.0.1:${port}`, () => '');
  try {
    await assert.rejects(serveMetrics(`127.0.0.1:${port}`, () => ''), /EADDRINUSE/);
  } finally {
    await first.close();
  }
});
