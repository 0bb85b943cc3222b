// Published-port forwarders compared against the direct veth path, all inside throwaway
// namespaces: "host" (client, forwarder on its 127.0.0.1) and "vpn" (iperf3 + echo server on
// 10.0.0.2), joined by veth 10.0.0.1 <-> 10.0.0.2.
//   node dist/bench/forward.js [--seconds 1] [--rounds 3] [--only name,name] [--conns 500]
// Needs root, iperf3 and socat. Prints a Markdown table with ratios against "direct".
import { renderHostTable } from '../src/firewall/host-table.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostVpnPair, groupCpuSeconds, groupMemoryKiB, removeStaleNamespaces, type Background, type NetnsWorld } from './lib/netns.js';
import { fixed, markdownTable, median, percentile, ratio } from './lib/stats.js';
import { forwardProcess } from '../src/services/forward.js';
import { dnatPublications } from '../src/services/publish.js';
import { parseConfig } from '../src/config/load.js';

const TOOL = fileURLToPath(new URL('./lib/tcp-tool.js', import.meta.url));
const IPERF_PORT = 5201;
const ECHO_PORT = 7000;

interface Ctx {
  world: NetnsWorld;
  host: string;
  vpn: string;
  hostDev: string;
  vpnAddr: string;
}

interface Started {
  /** Where the client connects for the iperf3 and echo targets. */
  iperf: { host: string; port: number };
  echo: { host: string; port: number };
  /** Process group whose memory is reported (the echo forwarder, which holds the 500 connections). */
  memoryPgid?: number;
  /** Process group that carries the iperf3 traffic, for CPU seconds per GB moved. */
  cpuPgid?: number;
  stop(): Promise<void>;
}

interface Candidate {
  name: string;
  why: string;
  start(ctx: Ctx, base: number): Promise<Started>;
}

function processForwarders(name: string, argvFor: (listenPort: number, target: { host: string; port: number }) => string[]): Candidate['start'] {
  return async (ctx, base) => {
    const procs: Background[] = [];
    const iperfPort = base + 1;
    const echoPort = base + 2;
    procs.push(ctx.world.start(ctx.host, argvFor(iperfPort, { host: ctx.vpnAddr, port: IPERF_PORT })));
    procs.push(ctx.world.start(ctx.host, argvFor(echoPort, { host: ctx.vpnAddr, port: ECHO_PORT })));
    await ctx.world.waitListening(ctx.host, iperfPort);
    await ctx.world.waitListening(ctx.host, echoPort);
    return {
      iperf: { host: '127.0.0.1', port: iperfPort },
      echo: { host: '127.0.0.1', port: echoPort },
      memoryPgid: procs[1]!.pid,
      cpuPgid: procs[0]!.pid,
      stop: async () => {
        await Promise.all(procs.map((p) => p.stop(1000)));
        if (procs.some((p) => p.stderr().includes('rror'))) console.error(`${name} stderr: ${procs.map((p) => p.stderr()).join(' ')}`);
      },
    };
  };
}

const socat = (bufferArgs: string[], listenOpts = '', connectOpts = '') =>
  processForwarders('socat', (port, t) => [
    '/usr/bin/socat',
    ...bufferArgs,
    `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork${listenOpts}`,
    `TCP:${t.host}:${t.port}${connectOpts}`,
  ]);

const CANDIDATES: Candidate[] = [
  {
    name: 'direct',
    why: 'reference: client straight to 10.0.0.2 over the veth',
    start: async (ctx) => ({
      iperf: { host: ctx.vpnAddr, port: IPERF_PORT },
      echo: { host: ctx.vpnAddr, port: ECHO_PORT },
      stop: async () => undefined,
    }),
  },
  { name: 'socat', why: 'socat fork, default 8 KiB buffer', start: socat([]) },
  { name: 'socat-b128k', why: 'socat -b 131072 fork', start: socat(['-b', '131072']) },
  {
    name: 'socat-tuned',
    why: 'socat -b 1048576 fork, nodelay both sides, backlog=1024 (the default backlog of 5 strands bursts of connections)',
    start: socat(['-b', '1048576'], ',nodelay,backlog=1024', ',nodelay'),
  },
  {
    name: 'node-forwarder',
    why: 'src/services/forwarder-main.ts relaying every byte (`via: relay`, and [::1] or LAN binds in the default): one process, pipe(), 256 KiB highWaterMark, nodelay',
    start: processForwarders('node', (port, t) => forwardProcess({ name: 'bench', listen: { host: '127.0.0.1', port }, target: t }).argv),
  },
  {
    name: 'default',
    why: 'publish with no `via:` (the default): the forwarder process holds the port on 127.0.0.1, and the host table vpnns renders for it (dnatPublications + renderHostTable: the kernel fast path, DNAT in output, masquerade, loopback guard) carries the connections; route_localnet=1 on the host veth',
    start: async (ctx, base) => {
      const iperfPort = base + 1;
      const echoPort = base + 2;
      const table = 'vnbfwdd';
      const cfg = parseConfig(`publish: [{ host: "127.0.0.1:${iperfPort}", target: ${IPERF_PORT} }, { host: "127.0.0.1:${echoPort}", target: ${ECHO_PORT} }]\n`);
      const pubs = dnatPublications(cfg, { nsAddr: ctx.vpnAddr });
      if (pubs.length !== 2 || pubs.some((p) => p.via !== 'forwarder')) throw new Error('the default publication has no kernel fast path');
      const relays = await processForwarders('node', (port, t) => forwardProcess({ name: 'bench', listen: { host: '127.0.0.1', port }, target: t }).argv)(ctx, base);
      const ruleset = renderHostTable({ hostTable: table, vethHost: ctx.hostDev, nsAddr: ctx.vpnAddr, subnet: `${ctx.vpnAddr}/32` }, pubs, { uids: [0], loopback: pubs.map((p) => p.listen) });
      await ctx.world.run(ctx.host, ['sysctl', '-qw', `net.ipv4.conf.${ctx.hostDev}.route_localnet=1`]);
      await ctx.world.run(ctx.host, ['nft', '-f', '-'], { input: ruleset });
      return {
        iperf: { host: '127.0.0.1', port: iperfPort },
        echo: { host: '127.0.0.1', port: echoPort },
        memoryPgid: relays.memoryPgid,
        // The relay's own CPU while the iperf3 traffic passes: ~0 when the kernel carries it.
        cpuPgid: relays.cpuPgid,
        stop: async () => {
          await ctx.world.run(ctx.host, ['nft', 'delete', 'table', 'inet', table]);
          await ctx.world.run(ctx.host, ['sysctl', '-qw', `net.ipv4.conf.${ctx.hostDev}.route_localnet=0`]);
          await relays.stop();
        },
      };
    },
  },
  {
    name: 'kernel-dnat',
    why: 'publish via: kernel: the host table vpnns renders (renderHostTable: DNAT 127.0.0.1 -> 10.0.0.2, masquerade into the veth, loopback guard), route_localnet=1 on the host veth',
    start: async (ctx, base) => {
      const iperfPort = base + 1;
      const echoPort = base + 2;
      const table = 'vnbfwd';
      const pub = (port: number, target: number, origin: string) => ({ listen: { host: '127.0.0.1', port }, target: { host: ctx.vpnAddr, port: target }, origin });
      const ruleset = renderHostTable({ hostTable: table, vethHost: ctx.hostDev, nsAddr: ctx.vpnAddr, subnet: `${ctx.vpnAddr}/32` }, [
        pub(iperfPort, IPERF_PORT, 'bench iperf'),
        pub(echoPort, ECHO_PORT, 'bench echo'),
      ]);
      await ctx.world.run(ctx.host, ['sysctl', '-qw', `net.ipv4.conf.${ctx.hostDev}.route_localnet=1`]);
      await ctx.world.run(ctx.host, ['nft', '-f', '-'], { input: ruleset });
      return {
        iperf: { host: '127.0.0.1', port: iperfPort },
        echo: { host: '127.0.0.1', port: echoPort },
        stop: async () => {
          await ctx.world.run(ctx.host, ['nft', 'delete', 'table', 'inet', table]);
          await ctx.world.run(ctx.host, ['sysctl', '-qw', `net.ipv4.conf.${ctx.hostDev}.route_localnet=0`]);
        },
      };
    },
  },
];

interface Row {
  name: string;
  upGbps?: number;
  downGbps?: number;
  upRatio?: number;
  cpuSecPerGB?: number;
  downRatio?: number;
  rr?: { p50: number; p99: number; errors: number };
  connRr?: { p50: number; p99: number; errors: number };
  hold?: { opened: number; served: number; survived: number; servedMs: number; pingsSent: number; pongs: number };
  memory?: { processes: number; rssKiB: number; pssKiB: number };
  note?: string;
}

/**
 * Gbit/s received; adds the bytes moved to `moved`. One retry after a second: on a loaded machine
 * the single iperf3 server may still be tearing down the previous test and turn the next client
 * away (seen as "Connection reset by peer"), which says nothing about the candidate.
 */
async function iperf(ctx: Ctx, t: { host: string; port: number }, seconds: number, reverse: boolean, moved?: { bytes: number }): Promise<number> {
  try {
    return await iperfOnce(ctx, t, seconds, reverse, moved);
  } catch {
    await sleep(1000);
    return iperfOnce(ctx, t, seconds, reverse, moved);
  }
}

async function iperfOnce(ctx: Ctx, t: { host: string; port: number }, seconds: number, reverse: boolean, moved?: { bytes: number }): Promise<number> {
  const argv = ['iperf3', '-c', t.host, '-p', String(t.port), '-t', String(seconds), '-J', ...(reverse ? ['-R'] : [])];
  const r = await ctx.world.run(ctx.host, argv, { timeoutMs: (seconds + 10) * 1000, allowFail: true });
  const json = JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bits_per_second?: number; bytes?: number } }; error?: string };
  const bps = json.end?.sum_received?.bits_per_second;
  if (moved) moved.bytes += json.end?.sum_received?.bytes ?? 0;
  if (!bps) throw new Error(`iperf3 to ${t.host}:${t.port} failed: ${json.error ?? r.stderr.trim()}`);
  return bps / 1e9;
}

async function requestReply(ctx: Ctx, t: { host: string; port: number }, count: number, newConn: boolean): Promise<{ samplesMs: number[]; errors: number }> {
  const argv = ['node', TOOL, 'rr', '--target', `${t.host}:${t.port}`, '--count', String(count), ...(newConn ? ['--new-conn'] : [])];
  const r = await ctx.world.run(ctx.host, argv, { timeoutMs: 30_000 });
  return JSON.parse(r.stdout) as { samplesMs: number[]; errors: number };
}

async function holdMany(ctx: Ctx, started: Started, conns: number, seconds: number): Promise<Pick<Row, 'hold' | 'memory'>> {
  const t = started.echo;
  const client = ctx.world.start(ctx.host, ['node', TOOL, 'hold', '--target', `${t.host}:${t.port}`, '--conns', String(conns), '--seconds', String(seconds), '--interval-ms', '500']);
  await client.waitForLine(/"ready"/, 60_000);
  // Measure mid-hold, once every connection has been served.
  await sleep(Math.min(1000, (seconds * 1000) / 2));
  const memory = started.memoryPgid ? groupMemoryKiB(started.memoryPgid) : undefined;
  const line = await client.waitForLine(/"survived"/, (seconds + 10) * 1000);
  await client.stop();
  const hold = JSON.parse(line) as NonNullable<Row['hold']>;
  return { hold, memory };
}

/**
 * Throughput is measured in interleaved rounds (every candidate once per round, all forwarders
 * running side by side on their own ports) and each ratio is the median of per-round ratios
 * against "direct", so load from elsewhere on a shared 2-core VM hits reference and candidate alike.
 */
async function throughputRounds(ctx: Ctx, live: Array<{ row: Row; started: Started }>, rounds: number, seconds: number): Promise<void> {
  const up = new Map<Row, number[]>();
  const down = new Map<Row, number[]>();
  const cpu = new Map<Row, { seconds: number; bytes: number }>();
  for (let r = 0; r < rounds; r++) {
    for (const { row, started } of live) {
      if (row.note) continue;
      const acc = cpu.get(row) ?? cpu.set(row, { seconds: 0, bytes: 0 }).get(row)!;
      const cpuBefore = started.cpuPgid ? groupCpuSeconds(started.cpuPgid) : 0;
      try {
        (up.get(row) ?? up.set(row, []).get(row)!).push(await iperf(ctx, started.iperf, seconds, false, acc));
        (down.get(row) ?? down.set(row, []).get(row)!).push(await iperf(ctx, started.iperf, seconds, true, acc));
      } catch (err) {
        row.note = (err as Error).message.slice(0, 200);
      }
      if (started.cpuPgid) acc.seconds += groupCpuSeconds(started.cpuPgid) - cpuBefore;
    }
  }
  const ref = live.find((l) => l.row.name === 'direct')?.row;
  for (const { row } of live) {
    row.upGbps = median(up.get(row) ?? []);
    row.downGbps = median(down.get(row) ?? []);
    const perRound = (m: Map<Row, number[]>) => {
      const mine = m.get(row) ?? [];
      const theirs = (ref && m.get(ref)) ?? [];
      return median(mine.map((v, i) => v / (theirs[i] ?? NaN)).filter(Number.isFinite));
    };
    row.upRatio = perRound(up);
    const c = cpu.get(row);
    if (c && c.bytes > 0 && live.find((l) => l.row === row)?.started.cpuPgid) row.cpuSecPerGB = c.seconds / (c.bytes / 1e9);
    row.downRatio = perRound(down);
  }
}

/** Request/reply latency, also interleaved in rounds; percentiles over the pooled samples. */
async function latencyRounds(ctx: Ctx, live: Array<{ row: Row; started: Started }>, rounds: number): Promise<void> {
  const rr = new Map<Row, { samples: number[]; errors: number }>();
  const connRr = new Map<Row, { samples: number[]; errors: number }>();
  for (let r = 0; r < rounds; r++) {
    for (const { row, started } of live) {
      if (row.note) continue;
      try {
        for (const [m, count, newConn] of [[rr, 600, false], [connRr, 50, true]] as const) {
          const acc = m.get(row) ?? m.set(row, { samples: [], errors: 0 }).get(row)!;
          const res = await requestReply(ctx, started.echo, count, newConn);
          acc.samples.push(...res.samplesMs);
          acc.errors += res.errors;
        }
      } catch (err) {
        row.note = (err as Error).message.slice(0, 200);
      }
    }
  }
  const summary = (x?: { samples: number[]; errors: number }) =>
    x ? { p50: median(x.samples), p99: percentile(x.samples, 99), errors: x.errors } : undefined;
  for (const { row } of live) {
    row.rr = summary(rr.get(row));
    row.connRr = summary(connRr.get(row));
  }
}

async function hold(ctx: Ctx, row: Row, started: Started, conns: number): Promise<void> {
  if (row.note) return;
  try {
    Object.assign(row, await holdMany(ctx, started, conns, 3));
  } catch (err) {
    row.note = (err as Error).message.slice(0, 200);
  }
}

function render(rows: Row[], conns: number): string {
  const ref = rows.find((r) => r.name === 'direct');
  const lat = (x: Row['rr']) => (x ? `${fixed(x.p50 * 1000, 0)}/${fixed(x.p99 * 1000, 0)}` : '-');
  const mem = (m: Row['memory']) => (m ? `${fixed(m.pssKiB / 1024, 1)} (${m.processes})` : '-');
  return markdownTable(
    ['candidate', 'up Gbit/s', 'up ratio', 'down Gbit/s', 'down ratio', 'rr p50/p99 µs', 'rr p50 ratio', 'new-conn rr p50/p99 µs', 'new-conn p50 ratio', 'fwd CPU s/GB', `${conns} conns: all served after s`, 'held 3 s', 'pongs', 'forwarder PSS MiB (procs)'],
    rows.map((r) => [
      r.name,
      fixed(r.upGbps),
      r.upRatio === undefined ? '-' : `${fixed(r.upRatio)}x`,
      fixed(r.downGbps),
      r.downRatio === undefined ? '-' : `${fixed(r.downRatio)}x`,
      lat(r.rr),
      ratio(r.rr?.p50, ref?.rr?.p50),
      lat(r.connRr),
      ratio(r.connRr?.p50, ref?.connRr?.p50),
      fixed(r.cpuSecPerGB),
      r.hold ? (r.hold.served === r.hold.opened ? fixed(r.hold.servedMs / 1000, 1) : `only ${r.hold.served} in ${fixed(r.hold.servedMs / 1000, 0)}`) : '-',
      r.hold ? `${r.hold.survived}/${r.hold.opened}` : '-',
      r.hold ? `${r.hold.pongs}/${r.hold.pingsSent}` : '-',
      mem(r.memory),
    ]),
  );
}

/** Issue 15's goal for the default publication: >= 0.8x the direct path's throughput, <= 1.3x its request latency. */
const GOAL = { throughput: 0.8, latency: 1.3 };

function renderGoals(rows: Row[]): string {
  const ref = rows.find((r) => r.name === 'direct');
  const lat = (r: Row) => (r.rr && ref?.rr ? r.rr.p50 / ref.rr.p50 : undefined);
  const meets = (r: Row) => {
    const l = lat(r);
    if (r.upRatio === undefined || r.downRatio === undefined || l === undefined || !Number.isFinite(r.upRatio + r.downRatio + l)) return '-';
    return r.upRatio >= GOAL.throughput && r.downRatio >= GOAL.throughput && l <= GOAL.latency ? 'yes' : 'no';
  };
  const x = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : `${fixed(v)}x`);
  return [
    `Goals (issue 15), ratios against direct in the same run: throughput up and down >= ${fixed(GOAL.throughput)}x, request/reply p50 <= ${fixed(GOAL.latency)}x; the one that must meet them is \`default\`.`,
    '',
    markdownTable(
      ['candidate', 'up ratio', 'goal', 'down ratio', 'goal', 'rr p50 ratio', 'goal', 'meets'],
      rows.filter((r) => r.name !== 'direct').map((r) => [r.name, x(r.upRatio), `>= ${fixed(GOAL.throughput)}x`, x(r.downRatio), `>= ${fixed(GOAL.throughput)}x`, x(lat(r)), `<= ${fixed(GOAL.latency)}x`, meets(r)]),
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '3' },
      conns: { type: 'string', default: '500' },
      only: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const conns = Number(values.conns);
  const only = values.only?.split(',');
  const chosen = CANDIDATES.filter((c) => c.name === 'direct' || !only || only.includes(c.name));
  for (const tool of ['/usr/bin/iperf3', '/usr/bin/socat']) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing (apt-get install iperf3 socat)`);
  }
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates network namespaces');
  removeStaleNamespaces();

  const { world, host, vpn, link } = await hostVpnPair('fw');
  try {
    const ctx: Ctx = { world, host, vpn, hostDev: link.a.dev, vpnAddr: link.b.addr };
    const iperfServer = world.start(vpn, ['iperf3', '-s', '-B', link.b.addr, '-p', String(IPERF_PORT)]);
    const echoServer = world.start(vpn, ['node', TOOL, 'echo', '--listen', `${link.b.addr}:${ECHO_PORT}`]);
    await echoServer.waitForLine(/listening/, 5000);
    await world.waitListening(vpn, IPERF_PORT);
    void iperfServer;

    const live: Array<{ row: Row; started: Started }> = [];
    try {
      for (const [i, c] of chosen.entries()) {
        const row: Row = { name: c.name };
        try {
          live.push({ row, started: await c.start(ctx, 20000 + i * 10) });
        } catch (err) {
          row.note = `could not start: ${(err as Error).message.slice(0, 200)}`;
          live.push({ row, started: { iperf: { host: '', port: 0 }, echo: { host: '', port: 0 }, stop: async () => undefined } });
        }
      }
      let t0 = Date.now();
      await throughputRounds(ctx, live, rounds, seconds);
      console.error(`throughput: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      t0 = Date.now();
      await latencyRounds(ctx, live, rounds);
      console.error(`latency: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      for (const { row, started } of live) {
        t0 = Date.now();
        await hold(ctx, row, started, conns);
        console.error(`${row.name} hold: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
    } finally {
      for (const { started } of live) await started.stop();
    }
    const rows = live.map((l) => l.row);
    console.log(render(rows, conns));
    console.log('');
    console.log(renderGoals(rows));
    console.log('');
    for (const c of chosen) console.log(`- ${c.name}: ${c.why}`);
    for (const r of rows.filter((r) => r.note)) console.log(`- ${r.name} failed: ${r.note}`);
  } finally {
    await world.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
