// Supervision end to end (WireGuard, the simulated world): faults injected one after another —
// SIGKILL of the client, deletion of the tunnel, the VPN server gone for 10 s, SIGKILL of danted,
// of a published-port forwarder, of the supervisor itself — each recovering on its own, while a
// program inside keeps trying to get out and two captures on the wan side of the host's uplink
// run throughout: packets the host routed (TTL 63) must all be the WireGuard flow; the host's own
// packets (TTL 64) must all be vpnns's host-side probe (echo over HTTP, DNS to the ISP resolver).
// Also: `vpnns logs`, `status --watch`, and the Prometheus endpoint on the host's loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { BIN, startHarness, leftovers, type Harness } from './harness.js';
import { isHostTo, isWireguardFlow, startUplinkCapture, unexpected } from './leak.js';
import type { Capture } from '../../src/world/capture.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PUBLISHED = 18080;
const METRICS_PORT = 20000 + Math.floor(Math.random() * 20000);

interface St {
  up: boolean;
  names: { nsAddr: string; hostAddr: string };
  vpn?: { connected?: boolean; tunnel?: string; handshakeAge?: number };
  supervisor?: { pid: number; alive: boolean };
  firewall: { killSwitch: boolean; killSwitchBlocked?: number };
  components: Record<string, { state: string; pid?: number; restarts: number; lastError?: string; detail?: Record<string, unknown> }>;
}

let h: Harness;
let cfg: string;
let forwarded: Capture | undefined;
let hostOwn: Capture | undefined;
let nsServer: number | undefined;
let hammer: { stop(): Promise<number> } | undefined;

/** `vpnns status --json`; a failed call is retried (and reported at the end), three strikes fail. */
const statusHiccups: string[] = [];
const status = async (): Promise<St> => {
  for (let i = 0; ; i++) {
    const r = await h.vpnns(['status', '--config', cfg, '--json']);
    try {
      return JSON.parse(r.stdout) as St;
    } catch {
      const why = `exit ${r.code}: ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`;
      statusHiccups.push(why);
      if (i >= 2) throw new Error(`vpnns status --json failed three times; last: ${why}`);
      await sleep(300);
    }
  }
};

async function waitStatus(what: string, ok: (s: St) => boolean, ms = 20_000): Promise<St> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await status();
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms / 1000} s; status: ${JSON.stringify(s.components)}`);
    await sleep(200);
  }
}

const connected = (s: St) => s.components.vpn?.state === 'running' && s.vpn?.connected === true;
const throughTunnel = () => h.inVpn(['curl', '-sS', '--max-time', '2', `http://${h.world.names.echo}/`], { timeoutMs: 10_000 });

/** Milliseconds from now until a request from inside gets out through the VPN. */
async function untilTraffic(ms: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const r = await throughTunnel();
    if (r.code === 0 && r.stdout.trim() === h.world.addr.vpnPublic) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`no traffic through the tunnel within ${ms / 1000} s: ${r.stderr.trim()}`);
    await sleep(100);
  }
}

const metrics = async (): Promise<string> => {
  const r = await h.world.inHost(['curl', '-sS', '--fail', '--max-time', '3', `http://127.0.0.1:${METRICS_PORT}/metrics`]);
  assert.equal(r.code, 0, `metrics endpoint: ${r.stderr}`);
  return r.stdout;
};
const sample = (text: string, name: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

const published = () => h.world.inHost(['curl', '-sS', '--max-time', '3', `http://127.0.0.1:${PUBLISHED}/`], { timeoutMs: 10_000 });
const viaSocks = (nsAddr: string) =>
  h.world.inHost(['curl', '-sS', '--max-time', '3', '--socks5-hostname', `${nsAddr}:1080`, `http://${h.world.names.echo}/`], { timeoutMs: 10_000 });

// ---- processes, told apart by the network namespace they live in ----

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  argv: string[];
  net: number;
}

function processes(): Proc[] {
  const out: Proc[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      out.push({
        pid: Number(p),
        comm: stat.slice(stat.indexOf('(') + 1, close),
        ppid: Number(stat.slice(close + 2).split(' ')[1]),
        argv: readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean),
        net: statSync(`/proc/${p}/ns/net`).ino,
      });
    } catch {
      /* exited while we looked */
    }
  }
  return out;
}

/** Processes named `comm` in namespace `ns` whose parent is not one too (a daemon's forks are one daemon). */
function daemons(ns: string, comm: string): Proc[] {
  const net = statSync(`/run/netns/${ns}`).ino;
  const all = processes();
  const byPid = new Map(all.map((p) => [p.pid, p]));
  return all.filter((p) => p.net === net && p.comm === comm && byPid.get(p.ppid)?.comm !== comm);
}

function supervisors(ns: string): Proc[] {
  return processes().filter((p) => p.argv.includes('supervise') && p.argv.includes(ns));
}

function forwarders(): Proc[] {
  const net = statSync(`/run/netns/${h.world.ns.host}`).ino;
  return processes().filter((p) => p.net === net && p.argv.some((a) => a.endsWith('forwarder-main.js')) && p.argv.includes(`127.0.0.1:${PUBLISHED}`));
}

/** A program inside the namespace that keeps trying to reach the internet, by address and by name. */
function startHammer(): { stop(): Promise<number> } {
  let stop = false;
  let n = 0;
  const loop = (async () => {
    while (!stop) {
      n++;
      await Promise.all([
        h.inVpn(['curl', '-s', '-o', '/dev/null', '--max-time', '1', `http://${h.world.addr.echo}/`], { timeoutMs: 5000 }),
        h.inVpn(['getent', 'hosts', `hammer${n}.${h.world.names.zone}`], { timeoutMs: 5000 }),
      ]);
      await sleep(150);
    }
  })();
  return {
    async stop() {
      stop = true;
      await loop;
      return n;
    },
  };
}

/** `vpnns ARGS` in the host namespace, in the background, stopped with SIGINT like Ctrl-C. */
function background(args: string[]): { output(): string; interrupt(): Promise<number | null> } {
  const child = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, '--', process.execPath, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return {
    output: () => out,
    async interrupt() {
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await closed;
      clearTimeout(t);
      return code;
    },
  };
}

before(async () => {
  h = await startHarness({ openvpn: false });
  const w = h.world;
  const file = await w.wireguard!.writeClientConfig(undefined, { endpointHost: w.names.vpn });
  cfg = h.config({
    vpn: { type: 'wireguard', config: file, connectTimeout: 10, resolveWith: [w.addr.ispResolver] },
    supervisor: { healthInterval: 2, probeInterval: 3 },
    metrics: { enabled: true, listen: `127.0.0.1:${METRICS_PORT}` },
    proxies: { socks: { enabled: true, port: 1080 }, http: { enabled: true, port: 1090 } },
    publish: [{ port: PUBLISHED }],
  });
  // Both captures run from before `up` to the end.
  forwarded = await startUplinkCapture(w, 'forwarded');
  hostOwn = await startUplinkCapture(w, 'host');
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, `up failed: ${r.stderr}`);
  const s = await waitStatus('all components running', (x) => ['vpn', 'socks', 'http', `forward-${PUBLISHED}`].every((c) => x.components[c]?.state === 'running'));
  // What the published port leads to: a tiny HTTP server on the namespace address.
  const child = spawn(
    'ip',
    ['netns', 'exec', h.ns, process.execPath, '-e', `require('http').createServer((q,s)=>s.end('hello from the namespace\\n')).listen(${PUBLISHED},'${s.names.nsAddr}')`],
    { stdio: 'ignore', detached: false },
  );
  child.unref();
  nsServer = child.pid;
  hammer = startHammer();
});

after(async () => {
  await hammer?.stop().catch(() => {});
  if (nsServer) {
    try {
      process.kill(nsServer, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await forwarded?.stop().catch(() => {});
  await hostOwn?.stop().catch(() => {});
  await h?.cleanup();
});

test('steady state: every component running, traffic through the tunnel, the published port, metrics', async () => {
  const s = await waitStatus('connected', connected);
  assert.equal(s.firewall.killSwitch, true);
  assert.equal((await throughTunnel()).stdout.trim(), h.world.addr.vpnPublic);
  let pub = await published();
  for (let i = 0; i < 20 && pub.code !== 0; i++) {
    await sleep(100);
    pub = await published();
  }
  assert.equal(pub.stdout, 'hello from the namespace\n', pub.stderr);
  assert.equal((await viaSocks(s.names.nsAddr)).stdout.trim(), h.world.addr.vpnPublic);
  const m = await metrics();
  assert.equal(sample(m, 'vpnns_up'), 1);
  assert.equal(sample(m, 'vpnns_vpn_connected'), 1);
  for (const c of ['vpn', 'socks', 'http', `forward-${PUBLISHED}`]) assert.equal(sample(m, `vpnns_component_up{component="${c}"}`), 1, c);
  assert.match(m, /^# TYPE vpnns_component_restarts_total counter$/m);
});

test('the probe through the tunnel: egress differs from the host\'s, latency in status and metrics', async () => {
  const s = await waitStatus('a probe', (x) => typeof x.components.vpn?.detail?.probedAt === 'string' && x.components.vpn.detail.hostEgressIp !== undefined);
  const d = s.components.vpn!.detail!;
  assert.equal(d.egressIp, h.world.addr.vpnPublic);
  assert.equal(d.hostEgressIp, h.world.addr.hostPublic);
  assert.equal(typeof d.probeLatencyMs, 'number');
  const m = await metrics();
  assert.equal(sample(m, 'vpnns_probe_success'), 1);
  assert.ok((sample(m, 'vpnns_probe_latency_seconds') ?? -1) >= 0);
  assert.ok((sample(m, 'vpnns_tunnel_rx_bytes_total') ?? 0) > 0);
  assert.ok((sample(m, 'vpnns_tunnel_tx_bytes_total') ?? 0) > 0);
  assert.ok((sample(m, 'vpnns_wireguard_handshake_age_seconds') ?? -1) >= 0);
  const table = await h.vpnns(['status', '--config', cfg]);
  assert.match(table.stdout, new RegExp(`egress: +${h.world.addr.vpnPublic.replaceAll('.', '\\.')} in \\d+ ms, probed`));
});

test('SIGKILL of the VPN client: restarted, traffic through the tunnel again', async (t) => {
  const before = await waitStatus('connected', connected);
  process.kill(before.components.vpn!.pid!, 'SIGKILL');
  const ms = await untilTraffic(15_000);
  const after = await waitStatus('the client restarted', (s) => connected(s) && s.components.vpn!.restarts > before.components.vpn!.restarts);
  assert.notEqual(after.components.vpn!.pid, before.components.vpn!.pid);
  t.diagnostic(`first request through the tunnel ${ms} ms after the SIGKILL`);
});

test('deletion of the tunnel interface: the client is restarted', async () => {
  const before = await waitStatus('connected', connected);
  await h.inVpn(['ip', 'link', 'del', before.vpn!.tunnel!]);
  await waitStatus('restarted after the tunnel was deleted', (s) => connected(s) && s.components.vpn!.restarts > before.components.vpn!.restarts);
  await untilTraffic(15_000);
});

test('the VPN server gone for 10 s: nothing gets out meanwhile; traffic resumes after it is back', async (t) => {
  await waitStatus('connected', connected);
  await untilTraffic(10_000);
  await h.world.wireguard!.stop();
  const downSince = Date.now();
  try {
    let failures = 0;
    while (Date.now() - downSince < 10_000) {
      const r = await throughTunnel();
      assert.notEqual(r.stdout.trim(), h.world.addr.hostPublic, 'never the host\'s address');
      assert.notEqual(r.code, 0, 'no request can succeed while the server is gone');
      failures++;
      await sleep(500);
    }
    assert.ok(failures > 3);
  } finally {
    await h.world.wireguard!.start();
  }
  const ms = await untilTraffic(30_000);
  t.diagnostic(`traffic resumed ${ms} ms after the server was back`);
  await waitStatus('connected again', connected, 30_000);
});

test('SIGKILL of danted: the socks component restarts and the proxy works again', async () => {
  const before = await waitStatus('socks running', (s) => s.components.socks?.state === 'running');
  process.kill(before.components.socks!.pid!, 'SIGKILL');
  const after = await waitStatus('socks restarted', (s) => s.components.socks?.state === 'running' && s.components.socks.restarts > before.components.socks!.restarts);
  assert.notEqual(after.components.socks!.pid, before.components.socks!.pid);
  let r = await viaSocks(after.names.nsAddr);
  for (let i = 0; i < 20 && r.code !== 0; i++) {
    await sleep(200);
    r = await viaSocks(after.names.nsAddr);
  }
  assert.equal(r.stdout.trim(), h.world.addr.vpnPublic, r.stderr);
});

test('SIGKILL of the published-port forwarder: restarted, the port answers again; logs -f shows it live', async () => {
  const name = `forward-${PUBLISHED}`;
  const follow = background(['logs', '-f', 'forward', '--config', cfg]);
  await sleep(800);
  const before = await waitStatus('forward running', (s) => s.components[name]?.state === 'running');
  process.kill(before.components[name]!.pid!, 'SIGKILL');
  const after = await waitStatus('forward restarted', (s) => s.components[name]?.state === 'running' && s.components[name].restarts > before.components[name]!.restarts);
  assert.notEqual(after.components[name]!.pid, before.components[name]!.pid);
  let r = await published();
  for (let i = 0; i < 20 && r.code !== 0; i++) {
    await sleep(100);
    r = await published();
  }
  assert.equal(r.stdout, 'hello from the namespace\n', r.stderr);
  await sleep(600);
  const code = await follow.interrupt();
  assert.equal(code, 0, 'Ctrl-C ends `logs -f` cleanly');
  assert.match(follow.output(), new RegExp(`warn\\s+${name}\\s+died; restarting reason="exited \\(SIGKILL\\)"`));
  assert.doesNotMatch(follow.output(), /\bvpn\s+connected\b/, 'only the forward components');
});

test('vpnns logs: the VPN client\'s restarts, as text and as JSON lines', async () => {
  const text = await h.vpnns(['logs', 'vpn', '--config', cfg, '-n', 'all']);
  assert.equal(text.code, 0, text.stderr);
  const restarts = text.stdout.split('\n').filter((l) => /\bwarn\s+vpn\s+VPN client lost; restarting/.test(l));
  // The SIGKILL and the deleted tunnel; the server outage may or may not have needed one.
  assert.ok(restarts.length >= 2, `restarts in the log:\n${text.stdout}`);
  assert.ok(restarts.some((l) => /wireguard-go exited \(SIGKILL\)/.test(l)), 'the SIGKILL is named');
  const json = await h.vpnns(['logs', 'vpn', '--json', '--config', cfg, '-n', 'all']);
  const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { component: string; level?: string; msg: string; t?: string; source?: string });
  const ours = events.filter((e) => !e.source);
  assert.ok(ours.length > 0 && ours.every((e) => e.component === 'vpn' && typeof e.t === 'string' && typeof e.level === 'string'));
  assert.ok(ours.some((e) => e.msg === 'VPN client lost; restarting'));
  const socks = await h.vpnns(['logs', 'socks', '--config', cfg]);
  assert.match(socks.stdout, /socks\s+died; restarting/);
  const warn = await h.vpnns(['logs', '--level', 'warn', '--json', '--config', cfg, '-n', 'all']);
  assert.ok(warn.stdout.trim().split('\n').every((l) => ['warn', 'error'].includes((JSON.parse(l) as { level: string }).level)));
});

test('metrics after the faults: restarts counted, connected again; nothing listens off loopback', async () => {
  await waitStatus('connected', connected);
  const m = await metrics();
  assert.equal(sample(m, 'vpnns_vpn_connected'), 1);
  assert.ok((sample(m, 'vpnns_component_restarts_total{component="vpn"}') ?? 0) >= 2);
  assert.ok((sample(m, 'vpnns_component_restarts_total{component="socks"}') ?? 0) >= 1);
  assert.ok((sample(m, `vpnns_component_restarts_total{component="forward-${PUBLISHED}"}`) ?? 0) >= 1);
  const s = await status();
  // The same port on the host's public address and its veth address: refused (curl exit 7).
  for (const addr of [h.world.addr.hostPublic, s.names.hostAddr]) {
    const r = await h.world.inHost(['curl', '-sS', '--max-time', '3', `http://${addr}:${METRICS_PORT}/metrics`]);
    assert.equal(r.code, 7, `metrics must not answer on ${addr}: ${r.stdout}${r.stderr}`);
  }
  const fromInside = await h.inVpn(['curl', '-sS', '--max-time', '3', `http://${s.names.hostAddr}:${METRICS_PORT}/metrics`]);
  assert.notEqual(fromInside.code, 0, 'not from the namespace either');
  // A config asking for a non-loopback address is refused before anything is done.
  const bad = join(h.world.dir, 'bad-metrics.yaml');
  writeFileSync(bad, stringify({ namespace: `${h.ns}x`, metrics: { enabled: true, listen: `0.0.0.0:${METRICS_PORT}` } }), { mode: 0o600 });
  const refused = await h.vpnns(['up', '--dry-run', '--config', bad]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /metrics\.listen.*loopback/);
});

test('status --watch: JSON lines until Ctrl-C; the table redrawn', async () => {
  // Until a few refreshes were seen (a status takes ~0.5-2 s on a busy 2-core machine).
  const until = async (p: { output(): string }, enough: (out: string) => boolean) => {
    const deadline = Date.now() + 30_000;
    while (!enough(p.output()) && Date.now() < deadline) await sleep(200);
  };
  const json = background(['status', '--watch', '--json', '--interval', '0.5', '--config', cfg]);
  await until(json, (o) => o.split('\n').length > 3);
  assert.equal(await json.interrupt(), 0, 'Ctrl-C ends --watch cleanly');
  const docs = json.output().trim().split('\n').map((l) => JSON.parse(l) as St & { time: string });
  assert.ok(docs.length >= 3, `several documents: ${json.output()}`);
  assert.ok(docs.every((d) => d.up && typeof d.time === 'string' && d.components.vpn !== undefined));
  assert.ok(new Set(docs.map((d) => d.time)).size === docs.length, 'a fresh document each time');
  const table = background(['status', '--watch', '--interval', '0.5', '--config', cfg]);
  await until(table, (o) => (o.match(/every 0\.5s: vpnns status/g) ?? []).length >= 2 && /RESTARTS[\s\S]*every 0\.5s[\s\S]*RESTARTS/.test(o));
  assert.equal(await table.interrupt(), 0);
  assert.ok((table.output().match(/every 0\.5s: vpnns status/g) ?? []).length >= 2);
  assert.match(table.output(), /COMPONENT +STATE +UPTIME +RESTARTS/);
});

test('SIGKILL of the supervisor; `up` again cleans up: one supervisor, one client, one of each daemon', async (t) => {
  const before = await waitStatus('connected', connected);
  const old = before.supervisor!.pid;
  process.kill(old, 'SIGKILL');
  await sleep(300);
  const dead = await status();
  assert.equal(dead.supervisor?.alive, false, 'status sees the dead supervisor');
  const first = await h.vpnns(['up', '--config', cfg]);
  // The dead supervisor's orphaned forwarder still holds the published port: `up` must cope.
  assert.equal(first.code, 0, first.stderr);
  const s = await waitStatus('everything running under the new supervisor', (x) => connected(x) && ['socks', 'http', `forward-${PUBLISHED}`].every((c) => x.components[c]?.state === 'running'));
  assert.notEqual(s.supervisor!.pid, old);
  assert.equal(s.supervisor!.alive, true);
  await sleep(500);
  assert.deepEqual(supervisors(h.ns).map((p) => p.pid), [s.supervisor!.pid], 'exactly one supervisor');
  assert.deepEqual(daemons(h.ns, 'wireguard-go').map((p) => p.pid), [s.components.vpn!.pid], 'exactly one VPN client');
  assert.equal(daemons(h.ns, 'danted').length, 1, 'one danted');
  assert.equal(daemons(h.ns, 'tinyproxy').length, 1, 'one tinyproxy');
  assert.deepEqual(forwarders().map((p) => p.pid), [s.components[`forward-${PUBLISHED}`]!.pid], 'one forwarder');
  await untilTraffic(10_000);
  assert.equal((await published()).stdout, 'hello from the namespace\n');
  const m = await metrics();
  assert.equal(sample(m, 'vpnns_up'), 1, 'the new supervisor serves metrics on the same port');
  assert.equal(sample(m, 'vpnns_vpn_connected'), 1);
});

test('throughout: 0 leaked packets; the host sent nothing but its own probe traffic', async (t) => {
  const attempts = await hammer!.stop();
  hammer = undefined;
  const fwd = (await forwarded!.stop()) ?? [];
  const own = (await hostOwn!.stop()) ?? [];
  forwarded = hostOwn = undefined;
  t.diagnostic(`${attempts} rounds of escape attempts from inside; ${fwd.length} routed packets, ${own.length} host packets captured`);
  if (statusHiccups.length) t.diagnostic(`vpnns status --json failed and was retried ${statusHiccups.length} time(s): ${statusHiccups.join('; ')}`);
  assert.ok(fwd.some((l) => isWireguardFlow(l, h.world)), 'the capture saw the tunnel (TTL 63: routed by the host)');
  assert.deepEqual(unexpected(fwd, (l) => isWireguardFlow(l, h.world)), [], 'routed packets: only the WireGuard flow');
  const w = h.world;
  assert.ok(own.some((l) => isHostTo(l, w, w.addr.echo, 80)), 'the capture saw the host-side probe (TTL 64)');
  assert.deepEqual(
    unexpected(own, (l) => isHostTo(l, w, w.addr.echo, 80) || isHostTo(l, w, w.addr.ispResolver, 53)),
    [],
    "host packets: only vpnns's host-side probe and endpoint lookups",
  );
  const s = await status();
  assert.ok((s.firewall.killSwitchBlocked ?? 0) > 0, 'the kill switch blocked the attempts while the tunnel was down');
});

test('down leaves nothing', async () => {
  if (nsServer) {
    try {
      process.kill(nsServer, 'SIGKILL');
    } catch {
      /* gone */
    }
    nsServer = undefined;
  }
  const d = await h.vpnns(['down', '--config', cfg]);
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual(await leftovers(h), []);
  await assert.rejects(fetchMetricsGone(), 'metrics gone with the supervisor');
});

async function fetchMetricsGone(): Promise<void> {
  const r = await h.world.inHost(['curl', '-sS', '--max-time', '2', `http://127.0.0.1:${METRICS_PORT}/metrics`]);
  if (r.code !== 0) throw new Error(`refused (curl ${r.code})`);
}
