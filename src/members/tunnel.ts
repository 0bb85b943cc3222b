// Whether a program may start inside now (`exec`, `kilo`, `browser`, `app start`): only while the
// tunnel runs, so nothing ever starts unprotected.
import { VpnnsError } from '../errors.js';
import { stateDirOf } from '../core/names.js';
import { readStatus } from '../core/status.js';
import type { System } from '../sys/system.js';
import { linkInNetns } from '../net/netns-peek.js';

/**
 * Refuses while the tunnel is down (requireVpn), so a program never starts unprotected: the
 * supervisor must say the VPN runs, and the tunnel link must exist in the namespace. The link is
 * looked up through a component's process that is inside the namespace (/proc/PID/net/dev, no
 * spawn); when none can tell, `ip -n NS link show TUNNEL` decides, as before.
 */
export async function assertTunnelUp(ns: string, sys: System | undefined, vpnType: string): Promise<void> {
  if (vpnType === 'none') return;
  const st = await readStatus(stateDirOf(ns));
  const vpn = st?.components.vpn;
  const tunnel = (vpn?.detail?.tunnel as string | undefined) ?? undefined;
  const ask = async (t: string) => {
    const s = sys ?? new (await import('../sys/system.js')).System(false);
    return (await s.query(['ip', '-n', ns, 'link', 'show', t], { allowFail: true })).code === 0;
  };
  const pids = Object.values(st?.components ?? {}).flatMap((c) => (typeof c.pid === 'number' ? [c.pid] : []));
  const linkUp = tunnel && vpn?.state === 'running' ? (linkInNetns(ns, tunnel, pids) ?? (await ask(tunnel))) : false;
  if (vpn?.state !== 'running' || !linkUp) {
    throw new VpnnsError(
      `the VPN in namespace ${ns} is not connected (${vpn?.state ?? 'no supervisor'}${vpn?.lastError ? `: ${vpn.lastError}` : ''}); wait for it to reconnect (\`vpnns status\`) or run \`sudo vpnns up\`.`,
    );
  }
}
