// Probes through the tunnel every probeInterval: an echo service must see an address that is not
// the host's own. Failing probes, or the host's address, are a reason to restart the client.
// Ends with its session's signal.
import { ABORTED, sleepUnless } from './abort.js';
import type { SupervisorCore } from './core.js';
import { probeHost, probeInside } from './probe.js';

/** Resolves with a reason to restart the client, or undefined when `signal` ends the session first (or probes are off). */
export async function probeWatch(core: SupervisorCore, signal: AbortSignal): Promise<string | undefined> {
  const { probeInterval, probeFailures } = core.cfg.supervisor;
  const url = core.cfg.check.echoUrl[0];
  if (!url || probeInterval === 0) return undefined;
  const plog = core.log.child('vpn');
  let probeBad = 0;
  for (;;) {
    if (signal.aborted) return undefined;
    const p = await probeInside(core.sys, core.names.ns, url);
    if (signal.aborted) return undefined;
    // The host's own egress, measured now and then, is what the tunnel's must never be.
    if (p.ok && (core.hostEgress === undefined || core.probes++ % 10 === 0)) {
      const cfg = core.cfg;
      const hp = await probeHost(core.sys, url, 10, cfg.check.hostDns ?? ('resolveWith' in cfg.vpn ? cfg.vpn.resolveWith : undefined));
      if (hp.ok) core.hostEgress = hp.ip;
      if (signal.aborted) return undefined;
    }
    core.set('vpn', {
      detail: {
        ...core.status.components.vpn?.detail,
        egressIp: p.ip,
        hostEgressIp: core.hostEgress,
        probeLatencyMs: p.ms,
        probeError: p.error,
        probedAt: new Date().toISOString(),
      },
    });
    core.metrics.probeLatencyMs = p.ok ? p.ms : undefined;
    if (p.ok && p.ip === core.hostEgress) {
      plog('error', 'traffic through the tunnel leaves with the host\'s own address', { egressIp: p.ip });
      return `egress leak: the probe saw the host's own address ${p.ip}`;
    }
    probeBad = p.ok ? 0 : probeBad + 1;
    if (!p.ok) plog('warn', 'probe through the tunnel failed', { url, error: p.error, consecutive: probeBad });
    if (probeBad >= probeFailures) return `${probeBad} probes through the tunnel failed: ${p.error}`;
    if ((await sleepUnless(probeInterval * 1000, signal)) === ABORTED) return undefined;
  }
}
