// The VPN client's own view of its connection, every healthInterval: two "not connected" in a row
// are a reason to restart it. Ends with its session's signal; nothing of it outlives that.
import type { PreparedVpn, VpnSession } from '../vpn/provider.js';
import type { providerFor } from '../vpn/registry.js';
import type { vpnContext } from '../vpn/prepare-resource.js';
import { ABORTED, sleepUnless } from './abort.js';
import type { SupervisorCore } from './core.js';

export interface SessionContext {
  session: VpnSession;
  provider: ReturnType<typeof providerFor>;
  vctx: ReturnType<typeof vpnContext>;
  prepared: PreparedVpn;
}

/** Resolves with a reason to restart the client, or undefined when `signal` ends the session first. */
export async function healthWatch(core: SupervisorCore, s: SessionContext, signal: AbortSignal): Promise<string | undefined> {
  let bad = 0;
  for (let first = true; ; first = false) {
    if (!first && (await sleepUnless(core.cfg.supervisor.healthInterval * 1000, signal)) === ABORTED) return undefined;
    if (signal.aborted) return undefined;
    const st = await s.provider.status(s.vctx, s.prepared).catch((e: Error) => ({ connected: false, detail: e.message }));
    if (signal.aborted) return undefined;
    core.set('vpn', { detail: { ...core.status.components.vpn?.detail, ...st, checkedAt: new Date().toISOString() } });
    bad = st.connected ? 0 : bad + 1;
    if (bad >= 2) return `health check failed: ${st.detail ?? 'not connected'}`;
  }
}
