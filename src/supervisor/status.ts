// The supervisor's view of its components, written to /run/vpnns/<ns>/status.json on every change
// so `status`, `up` (waiting for the tunnel) and scripts read one file.
import { readFile } from 'node:fs/promises';
import { writeFileSync, renameSync } from 'node:fs';
import type { Names } from '../plan/names.js';

export type ComponentState = 'starting' | 'running' | 'backoff' | 'failed' | 'stopped' | 'waiting';

export interface ComponentStatus {
  state: ComponentState;
  since: string;
  restarts: number;
  pid?: number;
  lastError?: string;
  /** How the process last ended: exit code (null when a signal ended it) and signal. */
  lastExitCode?: number | null;
  lastSignal?: string;
  /** Failing again and again without staying up (restarted with capped backoff meanwhile). */
  crashLooping?: boolean;
  detail?: Record<string, unknown>;
}

export interface SupervisorStatus {
  pid: number;
  startedAt: string;
  updatedAt: string;
  /** Set when the first connection failed: `up` reports it and rolls back. */
  fatal?: string;
  /** DNS servers the connected VPN supplied (written to the namespace resolv.conf unless the config sets dns). */
  vpnDns?: string[];
  components: Record<string, ComponentStatus>;
}

export function statusPath(n: Pick<Names, 'stateDir'>): string {
  return `${n.stateDir}/status.json`;
}

export async function readStatus(n: Pick<Names, 'stateDir'>): Promise<SupervisorStatus | undefined> {
  try {
    return JSON.parse(await readFile(statusPath(n), 'utf8')) as SupervisorStatus;
  } catch {
    return undefined;
  }
}

export function writeStatusSync(n: Pick<Names, 'stateDir'>, s: SupervisorStatus): void {
  const p = statusPath(n);
  const tmp = `${p}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n', { mode: 0o644 });
    renameSync(tmp, p);
  } catch {
    /* the state dir is gone: we are being torn down */
  }
}
