// The kill-switch drill: take the tunnel away for a moment and watch the host end of the veth.
// The supervisor is frozen (SIGSTOP) so it cannot reconnect while we look, the client is killed,
// traffic is generated from inside, and whatever enters the host from the namespace is captured.
// The supervisor is always thawed again (finally, and on exit or a signal), and then reconnects.
import type { ClientTraffic } from '../core/client-traffic.js';
import { readStatus } from '../core/status.js';
import { isAlive, sleep } from '../sys/process.js';
import { stillRunning } from '../sys/proc-identity.js';
import { agreedEgress, type DrillEvidence, type EchoMeasurement } from './evaluate.js';
import { blockedCounter, dnsInside, getentInside, measureEcho, nsNameservers, replyPorts, tunnelLinkExists, tunnelName, type CheckContext } from './gather.js';
import { expandWhoami } from './dns-probe.js';

interface Capture {
  stop(): Promise<string[]>;
}

/** tcpdump on the host end of the veth, packets coming from the namespace only. */
async function startCapture(sys: CheckContext['sys'], iface: string): Promise<Capture> {
  const out: string[] = [];
  let err = '';
  let listening!: () => void;
  const ready = new Promise<void>((r) => (listening = r));
  const proc = sys.start(
    { name: 'tcpdump', argv: ['tcpdump', '-n', '-t', '-l', '-Q', 'in', '-i', iface, '--immediate-mode', 'ip or ip6'] },
    {
      onLine: (line, stream) => {
        if (stream === 'stdout') out.push(line);
        else {
          err += `${line}\n`;
          if (err.includes('listening on')) listening();
        }
      },
    },
  );
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      proc.closed.then(() => Promise.reject(new Error(`tcpdump exited: ${err.trim()}`))),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`tcpdump did not start on ${iface}: ${err.trim() || 'no output'}`)), 5000))),
    ]);
  } catch (e) {
    await proc.stop(500);
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return {
    async stop() {
      // A short capture reports nothing unless given a moment to deliver what it saw (FACTS).
      await sleep(300);
      proc.child.kill('SIGINT');
      const t = setTimeout(() => proc.child.kill('SIGKILL'), 2000);
      await proc.closed;
      clearTimeout(t);
      return out.filter((l) => l.trim());
    },
  };
}

/** Thaws the supervisor whatever happens to us: on exit and on the signals that would end us. */
function guardThaw(pid: number): () => void {
  const thaw = () => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    thaw();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  };
  process.on('exit', thaw);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  return () => {
    thaw();
    process.off('exit', thaw);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
  };
}

export async function runDrill(ctx: CheckContext, egressBefore: EchoMeasurement[], hostEgress: string[]): Promise<DrillEvidence> {
  const n = ctx.names;
  const base: DrillEvidence = {
    captured: [],
    nsAddr: n.nsAddr,
    hostAddr: n.hostAddr,
    clientTraffic: (ctx.state?.runtime.clientTraffic as ClientTraffic[] | undefined) ?? [],
    replyPorts: replyPorts(ctx.used),
    allow: ctx.used.allow ?? [],
    killSwitchLoaded: ctx.report.firewall.killSwitch,
    attempts: [],
    restored: false,
    egressBefore: agreedEgress(egressBefore),
    egressAfter: [],
    hostEgress,
  };
  if (!ctx.report.up) return { ...base, skipped: 'the namespace is not up' };
  if (ctx.used.vpn.type === 'none') return { ...base, skipped: 'no VPN client to stop (vpn.type: none)' };
  const st = ctx.status;
  const vpn = st?.components.vpn;
  const supervisor = st?.pid;
  // PIDs from a file: signalled only while they still name the processes the supervisor recorded.
  const same = (pid: number, start: number | undefined) => (start === undefined ? isAlive(pid) : stillRunning({ pid, start }));
  if (!st || !supervisor || !same(supervisor, st.pidStart)) return { ...base, skipped: 'no live supervisor to restore the tunnel afterwards; run `sudo vpnns up`' };
  if (vpn?.state !== 'running' || !vpn.pid || !same(vpn.pid, vpn.pidStart)) return { ...base, skipped: `the VPN client is not running (${vpn?.state ?? 'unknown'}); nothing to drill` };
  const clientPid = vpn.pid;
  const tunnel = tunnelName(ctx);
  const oldSince = vpn.since;
  const e: DrillEvidence = { ...base, clientPid, tunnel };

  let capture: Capture;
  try {
    capture = await startCapture(ctx.sys, n.vethHost);
  } catch (err) {
    return { ...e, restored: true, error: `could not capture on ${n.vethHost}: ${(err as Error).message}` };
  }
  let capturing = true;
  let killed = false;
  e.counterBefore = await blockedCounter(ctx);
  const release = guardThaw(supervisor);
  const started = Date.now();
  try {
    process.kill(supervisor, 'SIGSTOP');
    process.kill(clientPid, 'SIGKILL');
    killed = true;
    // A userspace client's tunnel dies with it; a kernel one stays until deleted.
    for (let i = 0; i < 10 && (await tunnelLinkExists(ctx, tunnel)); i++) await sleep(100);
    if (await tunnelLinkExists(ctx, tunnel)) await ctx.sys.change(['ip', '-n', n.ns, 'link', 'del', tunnel], { allowFail: true });
    e.tunnelGone = !(await tunnelLinkExists(ctx, tunnel));

    // Everything a program inside would try: HTTP by name, plain DNS to each resolver, libc lookups, IPv6.
    const servers = await nsNameservers(ctx);
    const quick: typeof ctx = { ...ctx, timeoutMs: 2000 };
    const [http, http6, dns, getent] = await Promise.all([
      measureEcho(quick, ctx.cfg.check.echoUrl, { inside: true, family: 4 }),
      measureEcho(quick, [...new Set([...ctx.cfg.check.echoUrl6, ...ctx.cfg.check.echoUrl])], { inside: true, family: 6 }),
      dnsInside(quick, servers.map((server) => ({ server, name: expandWhoami(ctx.cfg.check.dnsWhoami), type: 'A' as const }))),
      getentInside(quick, expandWhoami(ctx.cfg.check.dnsWhoami)),
    ]);
    e.attempts = [
      ...[...http, ...http6].map((m) => `curl ${m.url}: ${m.ip ? `answered ${m.ip}` : m.error}`),
      ...dns.map((d) => `dns ${d.server}: ${d.rcode ?? d.error}`),
      `getent: ${getent.addresses?.join(' ') || getent.error}`,
    ];
    e.captured = await capture.stop();
    capturing = false;
    e.counterAfter = await blockedCounter(ctx);
  } catch (err) {
    e.error = (err as Error).message;
  } finally {
    if (capturing) e.captured = await capture.stop().catch(() => []);
    release();
  }

  if (!killed) return { ...e, restored: true };
  // The supervisor reaps the dead client and reconnects with its backoff; wait for a new session.
  const deadline = started + ((('connectTimeout' in ctx.used.vpn ? ctx.used.vpn.connectTimeout : 30) + 20) * 1000);
  for (;;) {
    const now = await readStatus(n);
    const v = now?.components.vpn;
    if (v?.state === 'running' && v.pid !== clientPid && v.since !== oldSince) {
      const live = (v.detail?.tunnel as string | undefined) ?? tunnel;
      if (await tunnelLinkExists(ctx, live)) {
        e.restored = true;
        break;
      }
    }
    if (Date.now() > deadline) break;
    await sleep(200);
  }
  e.restoreSeconds = Math.round((Date.now() - started) / 100) / 10;
  if (e.restored) e.egressAfter = await measureEcho(ctx, ctx.cfg.check.echoUrl, { inside: true, family: 4 });
  return e;
}

