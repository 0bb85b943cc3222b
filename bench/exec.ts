// What `vpnns exec -- true` costs, against the references measured in the same run:
//   true                                   process start (through nsenter, like every row)
//   ip netns exec NS true                  entering the namespace
//   ip netns exec NS setpriv ... true      entering + dropping to the user: what exec does by hand
//   node -e 0                              starting Node, the floor of any Node CLI
//   vpnns --version                        loading the CLI and doing nothing: what any command pays
//   vpnns exec --help                      Node + the CLI + exec's modules, no work
//   vpnns exec --namespace NS ... true     the hot path: state.json says what is needed (no YAML), tunnel check, sandbox launch
//   vpnns exec --config FILE ... true      the same, the YAML config parsed and checked first
// Goals (issue 15): exec (hot path) <= 1.25x (node -e 0 + ip netns exec NS setpriv ... true), and
// vpnns --version <= 1.1x node -e 0; printed next to the measured ratios.
// vpnns runs with WireGuard in the simulated world's host namespace (src/world); every command is
// started from there with nsenter, as the e2e tests do. Rows are interleaved round by round.
//   node dist/bench/exec.js [--runs 20] [--before OTHER/bin/vpnns]
// --before adds the two exec rows of another checkout (e.g. a build of an older commit), same rounds.
// Needs root. Prints a Markdown table with ratios. Not a test: no assertion.
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { BIN, startHarness } from '../test/e2e/harness.js';
import { fixed, markdownTable, median, percentile, ratio } from './lib/stats.js';

interface Case {
  name: string;
  argv: string[];
  ms: number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, before: { type: 'string' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 1000) throw new Error(`--runs expects a whole number from 1 to 1000, got ${values.runs}`);
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates network namespaces');

  const h = await startHarness({ openvpn: false }, 'b');
  const cases: Case[] = [];
  try {
    const w = h.world;
    const cfg = h.config({
      vpn: { type: 'wireguard', config: await w.wireguard!.writeClientConfig(), connectTimeout: 10 },
      proxies: { socks: { enabled: false }, http: { enabled: false } },
      supervisor: { probeInterval: 0 },
    });
    const up = await h.vpnns(['up', '--config', cfg]);
    if (up.code !== 0) throw new Error(`vpnns up failed: ${up.stderr}`);
    const nogroup = execFileSync('id', ['-gn', 'nobody'], { encoding: 'utf8' }).trim();
    cases.push(
      { name: 'true', argv: ['true'], ms: [] },
      { name: 'ip netns exec NS true', argv: ['ip', 'netns', 'exec', h.ns, 'true'], ms: [] },
      { name: 'ip netns exec NS setpriv (nobody) true', argv: ['ip', 'netns', 'exec', h.ns, 'setpriv', '--reuid', 'nobody', '--regid', nogroup, '--init-groups', 'true'], ms: [] },
      { name: 'node -e 0', argv: [process.execPath, '-e', '0'], ms: [] },
      { name: 'vpnns --version', argv: [process.execPath, BIN, '--version'], ms: [] },
      { name: 'vpnns exec --help', argv: [process.execPath, BIN, 'exec', '--help'], ms: [] },
      { name: 'vpnns exec --namespace NS --user nobody -- true', argv: [process.execPath, BIN, 'exec', '--namespace', h.ns, '--user', 'nobody', '--', 'true'], ms: [] },
      { name: 'vpnns exec --config FILE --user nobody -- true', argv: [process.execPath, BIN, 'exec', '--config', cfg, '--user', 'nobody', '--', 'true'], ms: [] },
    );
    if (values.before) {
      cases.push(
        { name: 'before: vpnns exec --namespace NS --user nobody -- true', argv: [process.execPath, values.before, 'exec', '--namespace', h.ns, '--user', 'nobody', '--', 'true'], ms: [] },
        { name: 'before: vpnns exec --help', argv: [process.execPath, values.before, 'exec', '--help'], ms: [] },
      );
    }
    // One untimed run each: page cache and module compile caches warm, as for a user's second call.
    for (const c of cases) await w.inHost(c.argv, { timeoutMs: 30_000 });
    for (let i = 0; i < runs; i++) {
      for (const c of cases) {
        const t0 = performance.now();
        const r = await w.inHost(c.argv, { timeoutMs: 30_000 });
        const ms = performance.now() - t0;
        if (r.code !== 0) throw new Error(`${c.name} exited ${r.code}: ${r.stderr.trim()}`);
        c.ms.push(ms);
      }
    }
  } finally {
    await h.cleanup();
  }

  const med = (name: string) => median(cases.find((c) => c.name === name)!.ms);
  const setpriv = med('ip netns exec NS setpriv (nobody) true');
  const node = med('node -e 0');
  console.log(`\nStarting a program inside the namespace, ${runs} runs each (interleaved), wall clock per command, ms; every command is started with nsenter into the world's host namespace.\n`);
  console.log(
    markdownTable(
      ['command', 'p50 ms', 'p90 ms', 'vs setpriv', 'vs node -e 0'],
      cases.map((c) => [c.name, fixed(median(c.ms), 1), fixed(percentile(c.ms, 90), 1), ratio(median(c.ms), setpriv), ratio(median(c.ms), node)]),
    ),
  );
  const floor = node + setpriv;
  const hot = med('vpnns exec --namespace NS --user nobody -- true');
  const withYaml = med('vpnns exec --config FILE --user nobody -- true');
  const version = med('vpnns --version');
  const help = med('vpnns exec --help');
  console.log('\nGoals (issue 15), p50 against references of the same run:\n');
  console.log(
    markdownTable(
      ['what', 'measured', 'goal'],
      [
        ['exec --namespace (state, no YAML) / (node -e 0 + ip netns exec setpriv)', ratio(hot, floor), '<= 1.25x'],
        ['exec --config FILE / (node -e 0 + ip netns exec setpriv)', ratio(withYaml, floor), '-'],
        ['vpnns --version / node -e 0', ratio(version, node), '<= 1.10x'],
        ...(values.before ? [['before: exec --namespace / (node -e 0 + ip netns exec setpriv)', ratio(med('before: vpnns exec --namespace NS --user nobody -- true'), floor), '-']] : []),
      ],
    ),
  );
  console.log('\nWhere the time of `vpnns exec` goes (differences of p50s, ms):\n');
  console.log(
    markdownTable(
      ['part', 'ms'],
      [
        ['Node start (node -e 0)', fixed(node, 1)],
        ['the CLI and exec\'s modules (exec --help - node -e 0)', fixed(help - node, 1)],
        ['state + status + tunnel check + sandbox launch (exec --namespace - exec --help)', fixed(hot - help, 1)],
        ['  of which entering + dropping by hand costs (ip netns exec setpriv)', fixed(setpriv, 1)],
        ['YAML config parse + trust checks (exec --config - exec --namespace)', fixed(withYaml - hot, 1)],
      ],
    ),
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
