// What a unit of Type=notify tells systemd (sd_notify through systemd-notify), and the restarts of
// the units bound to the tunnel when the tunnel is recreated under them.
import { System } from '../sys/system.js';
import { sleep } from '../sys/process.js';

/** What the VPN runner tells and asks systemd goes through the executor like every other command. */
const unitSys = new System(false);

/** Started by systemd with Type=notify (it hands us the socket); otherwise notifying is a no-op. */
export function underNotify(): boolean {
  return Boolean(process.env.NOTIFY_SOCKET);
}

/** sd_notify through systemd-notify; only when started by systemd with Type=notify. */
export async function notify(fields: string[]): Promise<void> {
  if (!underNotify()) return;
  await unitSys.change(['systemd-notify', ...fields], { allowFail: true, timeoutMs: 5000 });
}

/**
 * systemd-notify waits until systemd has read the message (a barrier), but a notification whose
 * sender is gone before systemd maps its PID to a unit is dropped: check, and send again.
 */
export async function notifyReady(unit: string, status: string): Promise<void> {
  if (!underNotify()) return;
  for (let i = 0; i < 10; i++) {
    await notify(['--ready', `--status=${status}`]);
    await sleep(500 + i * 250);
    const r = await unitSys.query(['systemctl', 'is-active', unit], { allowFail: true, timeoutMs: 5000 });
    if (r.stdout.trim() !== 'activating') return;
  }
}

/** Services bound to the tunnel that are running with the old one (Dante pins its interface). */
export async function restartTunnelDependents(units: string[], tunnelSinceUs: bigint, log: (l: string) => void): Promise<void> {
  if (!units.length || !underNotify()) return;
  const stale: string[] = [];
  for (const unit of units) {
    const r = await unitSys.query(['systemctl', 'show', '-p', 'ActiveState', '-p', 'ActiveEnterTimestampMonotonic', unit], { allowFail: true, timeoutMs: 5000 });
    const props = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/=(.*)/s, 2) as [string, string]));
    // Both are CLOCK_MONOTONIC in microseconds.
    if (props.ActiveState === 'active' && BigInt(props.ActiveEnterTimestampMonotonic || '0') < tunnelSinceUs) stale.push(unit);
  }
  if (!stale.length) return;
  log(`tunnel recreated: restarting ${stale.join(' ')}`);
  // --no-block: this runs inside a unit; waiting on jobs from here can deadlock.
  await unitSys.change(['systemctl', 'try-restart', '--no-block', ...stale], { allowFail: true, timeoutMs: 10_000 });
}
