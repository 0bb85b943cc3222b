// The VPN loop: keeps the client connected, restarting it with backoff while the kill switch stays
// loaded. Each session gets its own AbortController; the health and probe watches and every wait of
// that session end with it, so a session leaves nothing behind for the next one.
import { providerFor } from '../vpn/registry.js';
import type { PreparedVpn, VpnSession } from '../vpn/provider.js';
import { vpnContext } from '../vpn/prepare-resource.js';
import { effectiveDns, writeNamespaceResolv } from '../net/dns-files.js';
import { ABORTED, childController, sleepUnless, unlessAborted } from './abort.js';
import { Backoff } from './backoff.js';
import type { SupervisorCore } from './core.js';
import { healthWatch, type SessionContext } from './health-watch.js';
import { probeWatch } from './probe-watch.js';
import { traced, traceMark } from '../sys/trace.js';

async function applyVpnDns(core: SupervisorCore, session: VpnSession, prepared: PreparedVpn): Promise<void> {
  const vpnDns = session.dns ?? prepared.dns;
  // status.json, not state.json: the supervisor never writes the file `up` owns.
  core.status.vpnDns = vpnDns;
  const { servers, source } = effectiveDns(core.cfg.dns, vpnDns);
  await writeNamespaceResolv(core.sys, core.names.etcDir, servers, source);
}

/** How long a reason from a watch waits for the client's own exit, which says more. */
const EXIT_GRACE_MS = 300;

/** The first reason any of them gives; undefined once all have ended without one. */
function firstReason(watches: Array<Promise<string | undefined>>): Promise<string | undefined> {
  return new Promise((resolve) => {
    let left = watches.length;
    for (const w of watches) {
      void w.then(
        (r) => (r !== undefined ? resolve(r) : --left === 0 && resolve(undefined)),
        (e: unknown) => resolve(`watch failed: ${(e as Error).message}`),
      );
    }
  });
}

/**
 * Runs until core.signal aborts. Rejects only if the very first connection fails (so `up` can report
 * and roll back). `onSession` sees the live session (the supervisor stops it on shutdown).
 * `freshNamespace`: `up` made the namespace for this supervisor; its first client start finds no
 * tunnel of an earlier one (every later start looks, as always).
 */
export async function vpnLoop(core: SupervisorCore, onSession: (s: VpnSession | undefined) => void, freshNamespace = false): Promise<void> {
  const provider = providerFor(core.cfg.vpn);
  const prepared = core.state.runtime.vpn as PreparedVpn;
  const vlog = core.log.child('vpn');
  const vctx = vpnContext({ sys: core.sys, cfg: core.cfg, names: core.names }, (level, msg, fields) => vlog(level, msg, fields));
  const backoff = new Backoff(core.backoff);
  let everConnected = false;
  let restarts = 0;
  while (!core.stopping) {
    core.set('vpn', { state: 'starting', restarts });
    backoff.started();
    let session: VpnSession;
    try {
      const first = freshNamespace && restarts === 0 && !everConnected;
      session = await traced('vpn: provider.start (client up, connected)', () => provider.start(first ? { ...vctx, freshNamespace: true } : vctx, prepared));
    } catch (e) {
      const msg = (e as Error).message;
      if (!everConnected) throw e;
      vlog('error', 'reconnect failed', { error: msg });
      const delay = Math.max(1000, backoff.next());
      restarts++;
      core.set('vpn', { state: 'backoff', lastError: msg, restarts, detail: { retryInMs: delay, storm: backoff.storm } });
      await sleepUnless(delay, core.signal);
      continue;
    }
    if (core.stopping) {
      await session.stop();
      break;
    }
    onSession(session);
    everConnected = true;
    await traced('vpn: resolv.conf', () => applyVpnDns(core, session, prepared));
    vlog('info', 'connected', { tunnel: session.tunnel, pid: session.process?.pid });
    core.set('vpn', { state: 'running', pid: session.process?.pid, detail: { tunnel: session.tunnel } });
    core.tunnelUp = true;
    core.tunnel = session.tunnel;
    core.events.emit('tunnel-up', session.tunnel);
    traceMark('vpn: status running written');

    const live = childController(core.signal);
    const s: SessionContext = { session, provider, vctx, prepared };
    // Whichever gives a reason first ends the others: the session's controller goes with this iteration.
    const watches = [unlessAborted(session.ended, live.signal).then((r) => (r === ABORTED ? undefined : r)), healthWatch(core, s, live.signal), probeWatch(core, live.signal)];
    let exited: string | undefined;
    void session.ended.then((r) => (exited = r), () => {});
    let why = await firstReason(watches);
    live.dispose();
    await Promise.allSettled(watches);
    if (why !== undefined && exited === undefined && !core.stopping) {
      // A client that dies takes its tunnel with it, and a health check can see the tunnel gone
      // before the exit is reaped: give the exit a moment, so the log names the real cause.
      const grace = childController(core.signal);
      await Promise.race([session.ended.catch(() => undefined), sleepUnless(EXIT_GRACE_MS, grace.signal)]);
      grace.dispose();
      if (exited !== undefined) why = exited;
    }
    core.tunnelUp = false;
    core.events.emit('tunnel-down');
    if (core.stopping || why === undefined) break;
    restarts++;
    vlog('warn', 'VPN client lost; restarting', { reason: why, restarts });
    core.set('vpn', { state: 'backoff', lastError: why, restarts, pid: undefined });
    await session.stop().catch(() => {});
    onSession(undefined);
    const delay = backoff.next();
    if (backoff.storm) vlog('error', 'VPN client restart storm', { restartsInWindow: backoff.restartsInWindow });
    core.set('vpn', { detail: { retryInMs: delay, storm: backoff.storm } });
    await sleepUnless(delay, core.signal);
  }
}
