// Memory of the vpnns supervisor with WireGuard, both proxies and one published port running, in the
// simulated world (src/world), against references measured in the same run:
//   bare node     `node -e "setInterval(()=>{},1e9)"`: the least any Node process costs
//   the daemons   everything the supervisor looks after (wireguard-go, danted, tinyproxy, the
//                 forwarders), each with its children, summed
// RSS counts shared pages (Node's own binary, libc) in full for every process; PSS shares them out,
// so the PSS sum is what the set really costs. Sampled `--samples` times, 1 s apart, median.
//   node dist/bench/memory.js [--samples 3] [--settle 2]
// Needs root. Prints a Markdown table with ratios. Not a test: no assertion.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHarness } from '../test/e2e/harness.js';
import { fixed, markdownTable, median, ratio } from './lib/stats.js';

interface Mem {
  processes: number;
  rssKiB: number;
  pssKiB: number;
}

function parents(): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      m.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* exited */
    }
  }
  return m;
}

/** RSS and PSS of `pid` and, with `children`, all its descendants (danted and tinyproxy fork workers). */
function treeMemory(pid: number, children = true): Mem {
  const ppid = parents();
  const tree = new Set([pid]);
  for (let grew = children; grew; ) {
    grew = false;
    for (const [p, pp] of ppid) if (tree.has(pp) && !tree.has(p)) (tree.add(p), (grew = true));
  }
  const mem: Mem = { processes: 0, rssKiB: 0, pssKiB: 0 };
  for (const p of tree) {
    try {
      const rollup = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      mem.rssKiB += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      mem.pssKiB += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      mem.processes++;
    } catch {
      /* exited */
    }
  }
  return mem;
}

interface StatusJson {
  supervisor?: { pid: number };
  components: Record<string, { state: string; pid?: number }>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { samples: { type: 'string', default: '3' }, settle: { type: 'string', default: '2' } } });
  const samples = Number(values.samples);
  const settle = Number(values.settle);
  if (!Number.isInteger(samples) || samples < 1 || samples > 60) throw new Error(`--samples expects a whole number from 1 to 60, got ${values.samples}`);
  if (!(settle >= 0 && settle <= 60)) throw new Error(`--settle expects seconds from 0 to 60, got ${values.settle}`);
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates network namespaces');

  const bare = spawn(process.execPath, ['-e', 'setInterval(()=>{},1e9)'], { stdio: 'ignore' });
  const h = await startHarness({ openvpn: false }, 'b');
  const rows = new Map<string, Mem[]>();
  const add = (name: string, m: Mem) => rows.set(name, [...(rows.get(name) ?? []), m]);
  try {
    const w = h.world;
    const cfg = h.config({
      vpn: { type: 'wireguard', config: await w.wireguard!.writeClientConfig(), connectTimeout: 10 },
      proxies: { socks: { enabled: true, port: 1080, publish: false }, http: { enabled: true, port: 1090, publish: false } },
      publish: [{ host: '127.0.0.1:18080', target: 8080 }],
    });
    const up = await h.vpnns(['up', '--config', cfg]);
    if (up.code !== 0) throw new Error(`vpnns up failed: ${up.stderr}`);
    const want = ['vpn', 'socks', 'http', 'forward-18080'];
    let st: StatusJson | undefined;
    for (let i = 0; i < 100; i++) {
      st = JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as StatusJson;
      if (want.every((n) => st!.components[n]?.state === 'running')) break;
      await sleep(200);
    }
    if (!st?.supervisor?.pid || !want.every((n) => st!.components[n]?.pid)) throw new Error(`not everything is running: ${JSON.stringify(st?.components)}`);
    // A few seconds in, so the supervisor has done its health checks and probes at least once.
    await sleep(settle * 1000);
    for (let i = 0; i < samples; i++) {
      // The supervisor alone: its children are the daemons, counted below.
      add('supervisor', treeMemory(st.supervisor.pid, false));
      add('bare node', treeMemory(bare.pid!));
      const daemons: Mem = { processes: 0, rssKiB: 0, pssKiB: 0 };
      for (const [name, c] of Object.entries(st.components)) {
        if (!c.pid) continue;
        const m = treeMemory(c.pid);
        add(`daemon: ${name}`, m);
        daemons.processes += m.processes;
        daemons.rssKiB += m.rssKiB;
        daemons.pssKiB += m.pssKiB;
      }
      add('daemons, summed', daemons);
      await sleep(1000);
    }
  } finally {
    bare.kill('SIGKILL');
    await h.cleanup();
  }

  const med = (name: string, k: 'rssKiB' | 'pssKiB') => median((rows.get(name) ?? []).map((m) => m[k]));
  const mib = (kib: number) => fixed(kib / 1024, 1);
  console.log(`\nMemory with WireGuard + SOCKS5 + HTTP proxy + one published port, median of ${samples} samples, MiB. The supervisor is one Node process; the components are its children.\n`);
  const order = ['supervisor', 'bare node', ...[...rows.keys()].filter((k) => k.startsWith('daemon: ')).sort(), 'daemons, summed'];
  console.log(
    markdownTable(
      ['process', 'procs', 'RSS MiB', 'PSS MiB', 'supervisor RSS / this', 'supervisor PSS / this'],
      order.map((name) => {
        const ms = rows.get(name) ?? [];
        const vs = (k: 'rssKiB' | 'pssKiB') => ratio(med('supervisor', k), med(name, k));
        return [name, String(ms.at(-1)?.processes ?? 0), mib(med(name, 'rssKiB')), mib(med(name, 'pssKiB')), vs('rssKiB'), vs('pssKiB')];
      }),
    ),
  );
  console.log(`\nsupervisor RSS vs bare node RSS: ${ratio(med('supervisor', 'rssKiB'), med('bare node', 'rssKiB'))}; supervisor PSS vs the daemons' PSS summed: ${ratio(med('supervisor', 'pssKiB'), med('daemons, summed', 'pssKiB'))}.`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
