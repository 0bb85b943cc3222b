// `vpnns up` to the first byte through the tunnel, for WireGuard (wireguard-go) and OpenVPN, against
// starting the same client by hand in the same run, in the simulated world (src/world):
//   by hand   a scratch namespace behind the host (veth, NAT) made beforehand, then the client
//             started by hand (wireguard-go + wg setconf + address + routes; openvpn --config) ->
//             first answer from the echo service through the tunnel: the floor any tool must pay
//   vpnns up  `vpnns up` (namespace, veth, NAT, kill switch, DNS files, both proxies, probes, the
//             supervisor, the client: the defaults, nothing turned off) -> first answer through
//             the tunnel; `vpnns down` between rounds
//   by hand, from nothing
//             the same, and first what vpnns makes before its client, done by hand in the way
//             fewest commands do it: a namespace, its veth and addresses, resolv.conf, NAT on the
//             host, a kill switch (one nft load); no proxies, no supervisor. What a careful
//             person's script pays; the issue's goal is against the row above
//   node -e 0 the start of any Node CLI, for scale (a floor `vpnns up` cannot go below)
//   node -e 0 + by hand, from nothing
//             the two above added round by round: the least a Node CLI can pay that starts and
//             then does that work with the same tools (a floor for `vpnns up` with nothing of its
//             own: no proxies, no supervisor, no checks)
// Rounds alternate by hand / vpnns so load changes on the machine hit both alike. `vpnns up` runs
// with --trace-timing: its steps (and its supervisor's) are summed into "where the time goes".
// Goal (issue 15): vpnns up <= 3x by hand, printed next to the measured ratio.
//   node dist/bench/up.js [--rounds 3] [--vpn wireguard,openvpn] [--before OTHER/bin/vpnns] [--timeline]
// --timeline prints each round's trace lines of `vpnns up` and its supervisor on one clock (ms since
// `vpnns up` started): every short command, each resource's check and apply.
// Needs root. Prints Markdown tables with ratios against "by hand". Not a test: no assertion.
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, startHarness, type Harness } from '../test/e2e/harness.js';
import { addScratchNamespace, startOpenvpnClient, startWireguardClient, type RunningClient } from '../src/world/clients.js';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fixed, markdownTable, median, ratio } from './lib/stats.js';

const GOAL = 3;

type Vpn = 'wireguard' | 'openvpn';

/** The kill switch a person would type: out only loopback, the tunnel and the VPN server. */
function handKillSwitch(tunnel: string, server: string): string {
  return `table inet handks {\n\tchain output {\n\t\ttype filter hook output priority 0; policy drop;\n\t\toifname "lo" accept\n\t\toifname "${tunnel}" accept\n\t\tip daddr ${server} accept\n\t}\n}\n`;
}

/** Milliseconds from `t0` until a request from `ns` answers with `expect` (polled every ~20 ms). */
async function firstByte(h: Harness, ns: string, expect: string, t0: number, limitMs = 30_000): Promise<number> {
  for (;;) {
    const r = await h.world.inNs(ns, ['curl', '-s', '--max-time', '1', `http://${h.world.addr.echo}/`], { timeoutMs: 5000 });
    const now = performance.now();
    if (r.code === 0 && r.stdout.trim() === expect) return now - t0;
    if (now - t0 > limitMs) throw new Error(`no answer through the tunnel from ${ns} within ${limitMs / 1000} s`);
    await sleep(20);
  }
}

interface Variant {
  /** Row label: "vpnns up", or "vpnns up (before: ...)". */
  name: string;
  /** bin/vpnns of the checkout to run. */
  bin: string;
  ms: number[];
  /** Per round: part -> ms (from the trace lines). */
  parts: Array<Map<string, number>>;
}

interface Result {
  vpn: Vpn;
  hand: number[];
  fromNothing: number[];
  node: number[];
  variants: Variant[];
}

interface TraceLine {
  t: number;
  ms: number;
  pid: number;
  what: string;
}

function traceLines(text: string, since: number): TraceLine[] {
  const out: TraceLine[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('vpnns-trace ')) continue;
    const x = JSON.parse(l.slice('vpnns-trace '.length)) as TraceLine;
    if (x.t >= since) out.push(x);
  }
  return out;
}

/**
 * Where one round's time went, from `vpnns up`'s trace lines and its supervisor's, on one clock
 * (t0: when the benchmark started `vpnns up`; tEnd: the first answer): consecutive stretches of the
 * critical path, so the parts add up to the total. The hand-over is where `up` lets the supervisor
 * go (a supervisor started early) or starts it (started at the end, as before).
 */
function partsOf(lines: TraceLine[], t0: number, upDone: number, tEnd: number): Map<string, number> {
  const parts = new Map<string, number>();
  const starts = lines.filter((l) => l.what === 'process start -> trace enabled');
  const upPid = starts[0]?.pid;
  const supPid = starts.find((l) => l.pid !== upPid)?.pid;
  const at = (what: string | RegExp, pid: number | undefined) =>
    pid === undefined ? undefined : lines.find((l) => (typeof what === 'string' ? l.what === what : what.test(l.what)) && l.pid === pid);
  const put = (k: string, from: number | undefined, to: number | undefined) => {
    if (from !== undefined && to !== undefined) parts.set(k, Math.max(0, to - from));
  };
  const upStart = at('process start -> trace enabled', upPid);
  const firstStep = lines.find((l) => l.pid === upPid && /^(host lock|preflight|check )/.test(l.what));
  const handover = at('supervisor told to go', upPid) ?? at('supervisor spawned', upPid);
  const spawned = at('supervisor spawned', upPid);
  const supRun = at('supervisor: run', supPid);
  const provider = at(/^vpn: provider\.start/, supPid);
  const running = at('vpn: status running written', supPid);
  put('up: nsenter + Node start', t0, upStart?.t);
  put('up: CLI modules + config load', upStart?.t, firstStep ? firstStep.t - firstStep.ms : undefined);
  put('up: checks and resources (namespace, sysctls, kill switch, veth, DNS files, host nft, ...)', firstStep ? firstStep.t - firstStep.ms : undefined, handover?.t);
  put('supervisor: start-up still left at the hand-over (Node, modules, state)', handover?.t, supRun?.t);
  put('supervisor: run -> client started', supRun?.t, provider ? provider.t - provider.ms : undefined);
  put('client: start -> connected (provider.start)', provider ? provider.t - provider.ms : undefined, provider?.t);
  put('connected -> status written', provider?.t, running?.t);
  put('status written -> up returns', running?.t, upDone);
  put('up returns -> first answer (curl polling, also paid by hand)', upDone, tEnd);
  // Off the critical path when it overlaps the resources: the supervisor's own boot.
  put('(supervisor boot: spawned -> ready to run, overlapped when started early)', spawned?.t, at('supervise: modules loaded, go', supPid)?.t ?? supRun?.t);
  // Short commands (ip, nft, sysctl, wg) run by up and the supervisor until connected.
  const cut = running?.t ?? upDone;
  const runs = lines.filter((l) => l.what.startsWith('run ') && l.t <= cut);
  parts.set('#process starts (short commands) until connected', runs.length);
  parts.set('#ms in short commands until connected (summed, partly in parallel)', runs.reduce((a, l) => a + l.ms, 0));
  return parts;
}

/** One round's trace, ms since t0: "   123.4 (+  5.6) up  run ip netns add ...". */
function printTimeline(label: string, lines: TraceLine[], t0: number): void {
  const upPid = lines.find((l) => l.what === 'process start -> trace enabled')?.pid;
  console.error(`--- ${label}`);
  for (const l of [...lines].sort((a, b) => a.t - b.t)) {
    const who = l.pid === upPid ? 'up ' : 'sup';
    console.error(`${(l.t - l.ms - t0).toFixed(1).padStart(7)} ${(l.t - t0).toFixed(1).padStart(7)} (${l.ms.toFixed(1).padStart(6)}) ${who} ${l.what}`);
  }
}

async function measure(vpn: Vpn, rounds: number, bins: Array<{ name: string; bin: string }>, timeline = false): Promise<Result> {
  const h = await startHarness(vpn === 'wireguard' ? { openvpn: false } : { wireguard: false }, 'b');
  const res: Result = { vpn, hand: [], fromNothing: [], node: [], variants: bins.map((b) => ({ ...b, ms: [], parts: [] })) };
  try {
    const w = h.world;
    const scratch = await addScratchNamespace(w, { name: 'ref', parent: 'host', index: 7 });
    const profile =
      vpn === 'wireguard' ? await w.wireguard!.writeClientConfig(undefined, { client: 0 }) : await w.openvpn!.writeClientConfig();
    // The defaults: kill switch, DNS files, both proxies, probes, supervision; nothing turned off.
    const cfg = h.config({ vpn: { type: vpn, config: profile, connectTimeout: 15 } });
    const supervisorOut = join(w.dir, 'vpnns-log', h.ns, 'supervisor.out');
    const egress = vpn === 'wireguard' ? w.addr.vpnPublic : w.addr.ovpnPublic;
    for (let i = 0; i < rounds; i++) {
      let t0 = performance.now();
      // WireGuard: client 1's keys by hand, client 0's for vpnns, so the server never confuses them.
      const ref: RunningClient = vpn === 'wireguard' ? await startWireguardClient(w, scratch.ns, { client: 1 }) : await startOpenvpnClient(w, scratch.ns);
      res.hand.push(await firstByte(h, scratch.ns, egress, t0));
      await ref.stop();
      await w.inNs(scratch.ns, ['ip', 'link', 'del', ref.ifname]).catch(() => undefined);

      // From nothing: a namespace of this round's own, made and removed around its client.
      t0 = performance.now();
      const fresh = await addScratchNamespace(w, { name: `n${i}`, parent: 'host', index: 40 + i });
      const tunnel = vpn === 'wireguard' ? `${w.prefix}wc1` : 'tun0';
      await w.inNs(fresh.ns, ['nft', '-f', '-'], { input: handKillSwitch(tunnel, w.addr.vpnPublic) });
      const ref2: RunningClient = vpn === 'wireguard' ? await startWireguardClient(w, fresh.ns, { client: 1 }) : await startOpenvpnClient(w, fresh.ns);
      res.fromNothing.push(await firstByte(h, fresh.ns, egress, t0));
      await ref2.stop();
      await w.inHost(['ip', 'netns', 'del', fresh.ns]);
      await rm(join('/etc/netns', fresh.ns), { recursive: true, force: true });

      t0 = performance.now();
      await w.inHost([process.execPath, '-e', '0']);
      res.node.push(performance.now() - t0);

      for (const v of res.variants) {
        const vpnns = (args: string[]) => w.inHost([process.execPath, v.bin, ...args], { timeoutMs: 120_000 });
        t0 = performance.now();
        const epoch0 = performance.timeOrigin + t0;
        const up = await vpnns(['--trace-timing', 'up', '--config', cfg]);
        if (up.code !== 0) throw new Error(`${v.name} failed: ${up.stderr}`);
        const upDone = performance.timeOrigin + performance.now();
        v.ms.push(await firstByte(h, h.ns, egress, t0));
        const lines = traceLines(`${up.stderr}\n${readFileSync(supervisorOut, 'utf8')}`, epoch0);
        v.parts.push(partsOf(lines, epoch0, upDone, epoch0 + v.ms.at(-1)!));
        if (timeline) printTimeline(`${vpn} ${v.name} round ${i + 1} (start end (ms) who what; up returned at ${(upDone - epoch0).toFixed(1)})`, lines, epoch0);
        const down = await vpnns(['down', '--config', cfg]);
        if (down.code !== 0) throw new Error(`vpnns down failed: ${down.stderr}`);
      }
      console.error(`${vpn} round ${i + 1}/${rounds}: by hand ${fixed(res.hand.at(-1), 0)} ms, from nothing ${fixed(res.fromNothing.at(-1), 0)} ms, ${res.variants.map((v) => `${v.name} ${fixed(v.ms.at(-1), 0)} ms`).join(', ')}`);
    }
  } finally {
    await h.cleanup();
  }
  return res;
}

/** Per round, `node -e 0` plus the from-nothing start by hand (both measured in that round). */
function nodeFloor(r: Result): number[] {
  return r.node.map((n, i) => n + (r.fromNothing[i] ?? Number.NaN));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rounds: { type: 'string', default: '3' }, vpn: { type: 'string', default: 'wireguard,openvpn' }, before: { type: 'string' }, timeline: { type: 'boolean', default: false } },
  });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error(`--rounds expects a whole number from 1 to 50, got ${values.rounds}`);
  const vpns = values.vpn.split(',').filter(Boolean) as Vpn[];
  for (const v of vpns) if (v !== 'wireguard' && v !== 'openvpn') throw new Error(`--vpn expects wireguard and/or openvpn, got ${v}`);
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates network namespaces');
  // --before BIN: another checkout's bin/vpnns (e.g. a build of an older commit), measured in the same rounds.
  const bins = [{ name: 'vpnns up', bin: BIN }];
  if (values.before) bins.push({ name: 'vpnns up (before)', bin: values.before });

  const results: Result[] = [];
  for (const v of vpns) results.push(await measure(v, rounds, bins, values.timeline));

  console.log(`\n\`vpnns up\` to first byte through the tunnel, ${rounds} rounds each, median (min-max) ms; ratio against starting the client by hand.\n`);
  const rows: string[][] = [];
  const range = (xs: number[]) => `${fixed(Math.min(...xs), 0)}-${fixed(Math.max(...xs), 0)}`;
  for (const r of results) {
    const ref = median(r.hand);
    rows.push([`${r.vpn}: by hand`, fixed(ref, 0), range(r.hand), '1.00x', '']);
    rows.push([`${r.vpn}: by hand, from nothing (namespace, veth, NAT, kill switch, resolv.conf)`, fixed(median(r.fromNothing), 0), range(r.fromNothing), ratio(median(r.fromNothing), ref), '']);
    rows.push([`${r.vpn}: node -e 0 (for scale)`, fixed(median(r.node), 0), range(r.node), ratio(median(r.node), ref), '']);
    const floor = nodeFloor(r);
    rows.push([`${r.vpn}: node -e 0 + by hand, from nothing (a Node CLI's floor)`, fixed(median(floor), 0), range(floor), ratio(median(floor), ref), '']);
    for (const v of r.variants) rows.push([`${r.vpn}: ${v.name}`, fixed(median(v.ms), 0), range(v.ms), ratio(median(v.ms), ref), v.bin === BIN ? `<= ${GOAL.toFixed(2)}x` : '']);
  }
  console.log(markdownTable(['case', 'median ms', 'min-max ms', 'ratio', 'goal'], rows));
  for (const r of results) {
    const goalMs = GOAL * median(r.hand);
    const floorMs = median(nodeFloor(r));
    console.log(
      `\n${r.vpn}: the goal is ${fixed(goalMs, 0)} ms; ${floorMs > goalMs ? 'above it' : 'under it'}, a Node CLI that only starts and then does the from-nothing work by hand's commands takes ${fixed(floorMs, 0)} ms (${ratio(floorMs, median(r.hand))}).`,
    );
  }
  console.log('\nThe same medians against the other references of the same rounds:\n');
  console.log(
    markdownTable(
      ['case', 'vs by hand, from nothing', 'vs node -e 0', "vs node -e 0 + from nothing (a Node CLI's floor)"],
      results.flatMap((r) => r.variants.map((v) => [`${r.vpn}: ${v.name}`, ratio(median(v.ms), median(r.fromNothing)), ratio(median(v.ms), median(r.node)), ratio(median(v.ms), median(nodeFloor(r)))])),
    ),
  );
  console.log('\nWhere the time of `vpnns up` goes (from `vpnns --trace-timing up` and its supervisor\'s trace lines), median ms per part:\n');
  const columns = results.flatMap((r) => r.variants.map((v) => ({ label: `${r.vpn}: ${v.name}`, v })));
  const keys = [...new Set(columns.flatMap((c) => c.v.parts.flatMap((p) => [...p.keys()])))];
  console.log(
    markdownTable(
      ['part', ...columns.map((c) => c.label)],
      keys.map((k) => [k.replace(/^#/, ''), ...columns.map((c) => fixed(median(c.v.parts.map((p) => p.get(k)).filter((x): x is number => x !== undefined)), 0))]),
    ),
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
