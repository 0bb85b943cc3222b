// `vpnns up` to the first byte through the tunnel, for WireGuard (wireguard-go) and OpenVPN, against
// starting the same client by hand in the same run, in the simulated world (src/world):
//   by hand   a scratch namespace behind the host (veth, NAT) made beforehand, then the client
//             started by hand (wireguard-go + wg setconf + address + routes; openvpn --config) ->
//             first answer from the echo service through the tunnel: the floor any tool must pay
//   vpnns up  `vpnns up` (namespace, veth, NAT, kill switch, DNS files, supervisor, client; proxies
//             off) -> first answer through the tunnel; `vpnns down` between rounds
// Rounds alternate by hand / vpnns so load changes on the machine hit both alike.
//   node dist/bench/up.js [--rounds 3] [--vpn wireguard,openvpn]
// Needs root. Prints a Markdown table with ratios against "by hand". Not a test: no assertion.
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHarness, type Harness } from '../test/e2e/harness.js';
import { addScratchNamespace, startOpenvpnClient, startWireguardClient, type RunningClient } from '../src/world/clients.js';
import { fixed, markdownTable, median, ratio } from './lib/stats.js';

type Vpn = 'wireguard' | 'openvpn';

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

interface Result {
  vpn: Vpn;
  hand: number[];
  vpnns: number[];
}

async function measure(vpn: Vpn, rounds: number): Promise<Result> {
  const h = await startHarness(vpn === 'wireguard' ? { openvpn: false } : { wireguard: false }, 'b');
  const res: Result = { vpn, hand: [], vpnns: [] };
  try {
    const w = h.world;
    const scratch = await addScratchNamespace(w, { name: 'ref', parent: 'host', index: 7 });
    const profile =
      vpn === 'wireguard' ? await w.wireguard!.writeClientConfig(undefined, { client: 0 }) : await w.openvpn!.writeClientConfig();
    const cfg = h.config({
      vpn: { type: vpn, config: profile, connectTimeout: 15 },
      proxies: { socks: { enabled: false }, http: { enabled: false } },
      supervisor: { probeInterval: 0 },
    });
    const egress = vpn === 'wireguard' ? w.addr.vpnPublic : w.addr.ovpnPublic;
    for (let i = 0; i < rounds; i++) {
      let t0 = performance.now();
      // WireGuard: client 1's keys by hand, client 0's for vpnns, so the server never confuses them.
      const ref: RunningClient = vpn === 'wireguard' ? await startWireguardClient(w, scratch.ns, { client: 1 }) : await startOpenvpnClient(w, scratch.ns);
      res.hand.push(await firstByte(h, scratch.ns, egress, t0));
      await ref.stop();
      await w.inNs(scratch.ns, ['ip', 'link', 'del', ref.ifname]).catch(() => undefined);

      t0 = performance.now();
      const up = await h.vpnns(['up', '--config', cfg]);
      if (up.code !== 0) throw new Error(`vpnns up failed: ${up.stderr}`);
      res.vpnns.push(await firstByte(h, h.ns, egress, t0));
      const down = await h.vpnns(['down', '--config', cfg]);
      if (down.code !== 0) throw new Error(`vpnns down failed: ${down.stderr}`);
      console.error(`${vpn} round ${i + 1}/${rounds}: by hand ${fixed(res.hand.at(-1), 0)} ms, vpnns up ${fixed(res.vpnns.at(-1), 0)} ms`);
    }
  } finally {
    await h.cleanup();
  }
  return res;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, vpn: { type: 'string', default: 'wireguard,openvpn' } } });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error(`--rounds expects a whole number from 1 to 50, got ${values.rounds}`);
  const vpns = values.vpn.split(',').filter(Boolean) as Vpn[];
  for (const v of vpns) if (v !== 'wireguard' && v !== 'openvpn') throw new Error(`--vpn expects wireguard and/or openvpn, got ${v}`);
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates network namespaces');

  const results: Result[] = [];
  for (const v of vpns) results.push(await measure(v, rounds));

  console.log(`\n\`vpnns up\` to first byte through the tunnel, ${rounds} rounds each, median (min-max) ms; ratio against starting the client by hand.\n`);
  const rows: string[][] = [];
  for (const r of results) {
    const ref = median(r.hand);
    const range = (xs: number[]) => `${fixed(Math.min(...xs), 0)}-${fixed(Math.max(...xs), 0)}`;
    rows.push([`${r.vpn}: by hand`, fixed(ref, 0), range(r.hand), '1.00x']);
    rows.push([`${r.vpn}: vpnns up`, fixed(median(r.vpnns), 0), range(r.vpnns), ratio(median(r.vpnns), ref)]);
  }
  console.log(markdownTable(['case', 'median ms', 'min-max ms', 'ratio'], rows));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exitCode = 1;
});
