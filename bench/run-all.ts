// Runs every benchmark in sequence, each in its own process with bounded quick settings, and writes
// BENCHMARKS.md: the machine, the command that reproduces it, and each benchmark's table (every
// table has ratios against references measured in the same run, so the ratios are what compares
// across machines, not the absolute numbers).
//   node dist/bench/run-all.js [--only exec,up,...] [--out FILE]
// Needs root (the benchmarks make network namespaces). About 4-5 minutes on 2 cores.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface Bench {
  name: string;
  script: string;
  args: string[];
  title: string;
  what: string;
  /** Runs only when named in --only (it takes longer than the whole default set). */
  long?: boolean;
}

const BENCHES: Bench[] = [
  {
    name: 'exec',
    script: 'exec.js',
    args: ['--runs', '20'],
    title: '`vpnns exec -- true`',
    what: 'Starting a program inside the namespace with `vpnns exec`, against entering the namespace and dropping privileges by hand (`ip netns exec NS setpriv ... true`) and against starting Node (`node -e 0`). Goals (issue 15): `exec` on the hot path (`--namespace`, state.json, no YAML) <= 1.25x (node -e 0 + setpriv), `vpnns --version` <= 1.1x node -e 0; the second table prints them next to the measured ratios, the third where the time goes.',
  },
  {
    name: 'up',
    script: 'up.js',
    args: ['--rounds', '3'],
    title: '`vpnns up` to first byte',
    what: 'From `vpnns up` to the first answer through the tunnel, WireGuard (wireguard-go) and OpenVPN, with the defaults (kill switch, DNS files, both proxies, probes, supervision), against the same client started by hand in a ready-made scratch namespace (the floor) and `node -e 0` for scale. Goal (issue 15): <= 3x by hand. The second table (from `vpnns --trace-timing up`) says where the time goes.',
  },
  {
    name: 'forward',
    script: 'forward.js',
    args: ['--only', 'socat,socat-b128k,node-forwarder,default,kernel-dnat', '--rounds', '3', '--seconds', '1', '--conns', '100'],
    title: 'Published ports: throughput and latency',
    what: 'A published port, every way vpnns can carry it (`default`: no `via:`, the forwarder process holding 127.0.0.1:PORT with the kernel fast path, nftables DNAT, carrying the connections; `node-forwarder`: the Node process relaying every byte, as `via: relay`, [::1] and LAN binds have it; `kernel-dnat`: `via: kernel`, DNAT with no process), against the direct veth path and socat (default and `-b 131072`): iperf3 throughput both ways, 64-byte request/reply latency, 100 held connections. Goal (issue 15): the default >= 0.8x the direct path\'s throughput both ways and <= 1.3x its request/reply p50; the second table prints them next to the measured ratios. Quick settings; `bench/RESULTS-forward.md` has full runs and the reading.',
  },
  {
    name: 'recovery',
    script: 'recovery.js',
    args: ['--runs', '3'],
    title: 'Recovery after SIGKILL of the VPN client',
    what: 'From SIGKILL of wireguard-go to the first request through the tunnel again (the supervisor restarts it), against starting the client by hand and against `vpnns up`.',
  },
  {
    name: 'memory',
    script: 'memory.js',
    args: ['--samples', '3'],
    title: 'Supervisor memory',
    what: 'The supervisor with WireGuard, both proxies and one published port, against a bare Node process and against the daemons it supervises.',
  },
  {
    name: 'soak',
    script: 'soak.js',
    args: ['--minutes', '12', '--every', '10', '--warmup', '120'],
    title: 'Supervisor soak: a compressed long day',
    what: 'The supervisor for 12 minutes with health checks and probes every 1 s (defaults: 10 s and 60 s), WireGuard, both proxies, two published ports (one from the config, one added with `vpnns publish add`), an HTTP app and an app that exits at once (crash-looping); its heap after a full GC and RSS sampled every 10 s over the control socket. The heap slope times the 2.4 h of run that hold a default day of health checks and DNS-guard sweeps (and 6 days of probes) is the growth per simulated day. Target: < 1 MiB per day, RSS ≤ 60 MB.',
    long: true,
  },
];

interface Outcome {
  bench: Bench;
  code: number;
  stdout: string;
  stderrTail: string;
  seconds: number;
}

function runBench(b: Bench): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(HERE, b.script), ...b.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      process.stdout.write(d);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      process.stderr.write(d);
    });
    // Bounded: a benchmark that hangs is killed and reported, the others still run.
    const timer = setTimeout(() => child.kill('SIGTERM'), (b.long ? 30 : 10) * 60_000);
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ bench: b, code: code ?? (sig ? 128 : 1), stdout, stderrTail: stderr.trim().split('\n').slice(-8).join('\n'), seconds: (Date.now() - t0) / 1000 });
    });
  });
}

function quiet(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }).trim();
  } catch (e) {
    // Some tools print their version on stderr or exit non-zero for --version.
    const err = e as { stdout?: string; stderr?: string };
    return `${err.stdout ?? ''}${err.stderr ?? ''}`.trim();
  }
}

function machine(): string[] {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown CPU';
  const hypervisor = /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo) ? ', virtual machine' : '';
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  const os = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(osRelease)?.[1] ?? 'unknown OS';
  return [
    `- CPU: ${model}, ${cpus().length} logical cores${hypervisor}; memory ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os}, kernel ${quiet(['uname', '-r'])}; Node ${process.version}`,
    `- Tools: ${tools().join(', ')}`,
  ];
}

/** One short version string per tool the benchmarks drive ("?" when missing). */
function tools(): string[] {
  const grab = (argv: string[], re: RegExp, name: string) => `${name} ${re.exec(quiet(argv))?.[1] ?? '?'}`;
  return [
    grab(['wireguard-go', '--version'], /v?(\d[\d.]+)/, 'wireguard-go'),
    grab(['openvpn', '--version'], /OpenVPN (\S+)/, 'OpenVPN'),
    grab(['socat', '-V'], /socat version (\S+)/, 'socat'),
    grab(['iperf3', '--version'], /iperf (\S+)/, 'iperf3'),
    grab(['danted', '-v'], /Dante v?([\d.]+\d)/, 'Dante'),
    grab(['tinyproxy', '-v'], /tinyproxy (\S+)/, 'tinyproxy'),
    grab(['curl', '--version'], /curl (\S+)/, 'curl'),
  ];
}

const load = (): string => loadavg().map((l) => l.toFixed(1)).join(' / ');

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, out: { type: 'string', default: join(REPO, 'BENCHMARKS.md') } } });
  const only = values.only?.split(',').filter(Boolean);
  for (const n of only ?? []) if (!BENCHES.some((b) => b.name === n)) throw new Error(`--only: unknown benchmark ${n}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmarks create network namespaces');

  const chosen = BENCHES.filter((b) => (only ? only.includes(b.name) : !b.long));
  const started = new Date();
  const loadBefore = load();
  const outcomes: Outcome[] = [];
  for (const b of chosen) {
    if (!existsSync(join(HERE, b.script))) {
      console.error(`run-all: ${b.script} is not built; skipping ${b.name}`);
      continue;
    }
    console.error(`\n=== ${b.name}: node dist/bench/${b.script} ${b.args.join(' ')}`);
    outcomes.push(await runBench(b));
  }
  const loadAfter = load();
  const totalS = (Date.now() - started.getTime()) / 1000;

  const doc: string[] = [
    '# Benchmarks',
    '',
    `Generated by \`node dist/bench/run-all.js\` on ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC in ${Math.round(totalS)} s. Every table compares vpnns with references measured **in the same run** on the same machine; read the ratios, not the absolute numbers, across machines.`,
    '',
    '## Machine',
    '',
    ...machine(),
    `- Load average (1/5/15 min) before: ${loadBefore}; after: ${loadAfter}${cpus().length ? ` (${cpus().length} cores)` : ''}. A load above the core count means other work shared the machine and slowed absolute numbers.`,
    '',
    '## Reproduce',
    '',
    'As root, from a clone (after `sudo ./scripts/bootstrap`, or with the Debian packages in the README installed):',
    '',
    '```sh',
    'npm ci                      # builds dist/ (src, test world, bench)',
    'node dist/bench/run-all.js  # about 4-5 minutes; rewrites BENCHMARKS.md',
    '```',
    '',
    `One benchmark: \`node dist/bench/run-all.js --only ${BENCHES.map((b) => b.name).join(',')}\` (any subset), or the script itself with its own options (listed in each section). Everything runs in throwaway network namespaces (loopback and namespace addresses only) that are removed at the end.`,
    '',
  ];
  for (const o of outcomes) {
    doc.push(`## ${o.bench.title}`, '', o.bench.what, '', `\`node dist/bench/${o.bench.script} ${o.bench.args.join(' ')}\` (${Math.round(o.seconds)} s)`, '');
    const body = o.stdout.trim();
    if (body) doc.push(body, '');
    if (o.code !== 0) doc.push(`**This benchmark failed (exit ${o.code}).** Last lines of its output:`, '', '```', o.stderrTail, '```', '');
  }
  writeFileSync(values.out, `${doc.join('\n').trimEnd()}\n`);
  console.error(`\nrun-all: wrote ${values.out} in ${Math.round(totalS)} s; ${outcomes.filter((o) => o.code !== 0).length} of ${outcomes.length} benchmarks failed.`);
  if (outcomes.some((o) => o.code !== 0)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
