// A long day of the supervisor, compressed: WireGuard, both proxies, a published port from the config
// and one added with `vpnns publish add`, a stand-in app (an HTTP server inside, published) and one
// app that exits at once (crash-looping), with health checks and probes every second instead of every
// 10 s / 60 s. Every `--every` seconds it asks the supervisor (control socket, `stats` with a full GC
// first) for its heap after GC and RSS, and counts its open fds in /proc. The heap's slope over the
// run (after a warm-up), times the seconds that hold a day of default-interval work, is the growth
// per simulated day.
//   node dist/bench/soak.js [--minutes 10] [--every 10] [--warmup 60]
// Needs root. Prints Markdown. Not a test: no assertion.
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHarness } from '../test/e2e/harness.js';
import { request } from '../src/supervisor/control-client.js';
import { stateDirOf } from '../src/core/names.js';
import { fixed, markdownTable } from './lib/stats.js';

interface Stats {
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number };
  loops: number;
  pending: Record<string, number>;
}
interface Sample {
  t: number;
  heap: number;
  rss: number;
  fds: number;
  restarts: number;
  pending: string;
}

/** Seconds of a default-interval day: 86400 / 10 s health checks (the DNS guard sweeps as often), each now 1 s apart. */
const DAY_AT_DEFAULTS_S = 86400 / 10;

function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den ? num / den : 0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, every: { type: 'string', default: '10' }, warmup: { type: 'string', default: '60' } } });
  const minutes = Number(values.minutes);
  const every = Number(values.every);
  const warmup = Number(values.warmup);
  if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error(`--minutes expects 0-1440, got ${values.minutes}`);
  if (!(every >= 1 && every <= 600)) throw new Error(`--every expects seconds 1-600, got ${values.every}`);
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates network namespaces');

  const h = await startHarness({ openvpn: false }, 's');
  const samples: Sample[] = [];
  let appRestarts = 0;
  let vpnRestarts = 0;
  try {
    const w = h.world;
    const cfg = h.config({
      vpn: { type: 'wireguard', config: await w.wireguard!.writeClientConfig(), connectTimeout: 10 },
      proxies: { socks: { enabled: true, port: 1080, publish: false }, http: { enabled: true, port: 1090, publish: false } },
      supervisor: { healthInterval: 1, probeInterval: 1 },
      publish: [{ host: '127.0.0.1:18180', target: 8080 }],
      apps: {
        web: { command: [process.execPath, '-e', "require('http').createServer((q,s)=>s.end('ok\\n')).listen(8080)"], port: 8080, autostart: true, requireVpn: true },
        crasher: { command: ['/bin/sh', '-c', 'exit 7'], autostart: true, requireVpn: false },
      },
    });
    const up = await h.vpnns(['up', '--config', cfg]);
    if (up.code !== 0) throw new Error(`vpnns up failed: ${up.stderr}`);
    const add = await h.vpnns(['publish', 'add', '8080', '--host', '127.0.0.1:18181', '--config', cfg]);
    if (add.code !== 0) throw new Error(`publish add failed: ${add.stderr}`);
    const stNames = { ns: h.ns, ...stateDirOf(h.ns) };
    const pid = (await request<{ pid: number }>(stNames, { op: 'ping' })).pid;
    const t0 = Date.now();
    const end = t0 + minutes * 60_000;
    for (;;) {
      const s = await request<Stats>(stNames, { op: 'stats', args: { gc: true } }, 10_000);
      const st = await request<{ components: Record<string, { restarts: number }> }>(stNames, { op: 'status' });
      appRestarts = st.components['app-crasher']?.restarts ?? 0;
      vpnRestarts = st.components.vpn?.restarts ?? 0;
      samples.push({
        t: (Date.now() - t0) / 1000,
        heap: s.memory.heapUsed,
        rss: Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024,
        fds: readdirSync(`/proc/${pid}/fd`).length,
        restarts: appRestarts,
        pending: Object.entries(s.pending).map(([k, v]) => `${k} ${v}`).join(', '),
      });
      // The published ports carry a request now and then, as a user's browser would.
      await w.inHost(['curl', '-sS', '--max-time', '5', '-o', '/dev/null', 'http://127.0.0.1:18180/'], { timeoutMs: 10_000 }).catch(() => undefined);
      if (Date.now() >= end) break;
      await sleep(every * 1000);
    }
  } finally {
    await h.cleanup();
  }

  const MiB = 1024 * 1024;
  const after = samples.filter((s) => s.t >= warmup);
  const use = after.length >= 3 ? after : samples;
  const heapSlope = slope(use.map((s) => s.t), use.map((s) => s.heap));
  const rssSlope = slope(use.map((s) => s.t), use.map((s) => s.rss));
  const first = use[0]!;
  const last = use.at(-1)!;
  const restartSpan = last.restarts - first.restarts;
  console.log(`\nThe supervisor for ${fixed(samples.at(-1)!.t / 60, 1)} min with health checks and probes every 1 s (defaults: 10 s and 60 s), WireGuard, both proxies, two published ports, an HTTP app and an app that exits at once; sampled every ${every} s (heap after a full GC), slope fitted after ${warmup} s.\n`);
  console.log(
    markdownTable(
      ['', 'at warm-up end', 'at the end', 'max', 'slope per hour of run', 'per simulated day (×' + DAY_AT_DEFAULTS_S / 3600 + ' h of run)'],
      [
        ['heap after GC, MiB', fixed(first.heap / MiB, 2), fixed(last.heap / MiB, 2), fixed(Math.max(...samples.map((s) => s.heap)) / MiB, 2), fixed((heapSlope * 3600) / MiB, 3), fixed((heapSlope * DAY_AT_DEFAULTS_S) / MiB, 3)],
        ['RSS, MiB', fixed(first.rss / MiB, 1), fixed(last.rss / MiB, 1), fixed(Math.max(...samples.map((s) => s.rss)) / MiB, 1), fixed((rssSlope * 3600) / MiB, 2), fixed((rssSlope * DAY_AT_DEFAULTS_S) / MiB, 2)],
        ['open fds', String(first.fds), String(last.fds), String(Math.max(...samples.map((s) => s.fds))), '', ''],
        ['crash-looping app restarts', String(first.restarts), String(last.restarts), '', `${restartSpan} in the fitted span`, ''],
      ],
    ),
  );
  // The second half alone: a slope that shrinks from the first half to the second is warm-up, not a leak.
  const half = use.slice(Math.floor(use.length / 2));
  const lateSlope = half.length >= 3 ? slope(half.map((s) => s.t), half.map((s) => s.heap)) : heapSlope;
  console.log(`\nHeap slope over the second half of the fitted span alone: ${fixed((lateSlope * DAY_AT_DEFAULTS_S) / MiB, 3)} MiB per simulated day.`);
  console.log(`Heap after GC over the run (min: KiB): ${samples.filter((_, i) => i % 6 === 0 || i === samples.length - 1).map((s) => `${fixed(s.t / 60, 0)}: ${Math.round(s.heap / 1024)}`).join(', ')}.`);
  console.log(`\nVPN client restarts during the run: ${vpnRestarts}. Pending waiters and listeners at the end: ${last.pending}; at warm-up end: ${first.pending}.`);
  const perRestart = restartSpan > 0 ? ((last.heap - first.heap) / restartSpan) : 0;
  console.log(`Heap change per crash-restart (end minus warm-up end, divided by the restarts between): ${fixed(perRestart / 1024, 2)} KiB.`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
