// The supervisor's view of its components, written on every change so `status`, `up` (waiting for
// the tunnel) and scripts read one file.
//
// Two copies: status.json (0644) for anyone — `vpnns status` works without root — and
// status.private.json (0600) with everything. The public copy leaves out what would tell a local user
// the host's real address (the supervisor measures the host's own egress to compare the tunnel's
// with it), also where an error message quotes it. Root's readers use the full copy.
// A synchronous read of a small file in /run: node:fs/promises stays unloaded (see core/state.ts).
import { readFileSync } from 'node:fs';
import { replaceFileSync } from '../sys/files.js';
import type { Names } from './names.js';
import { identify } from '../sys/proc-identity.js';

export type ComponentState = 'starting' | 'running' | 'backoff' | 'failed' | 'stopped' | 'waiting';

export interface ComponentStatus {
  state: ComponentState;
  since: string;
  restarts: number;
  pid?: number;
  /** Start time of `pid` (/proc/PID/stat field 22): a later signal can prove it reaches this very process. */
  pidStart?: number;
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
  /** Start time of `pid`, as for a component. */
  pidStart?: number;
  startedAt: string;
  updatedAt: string;
  /** Set when the first connection failed: `up` reports it and rolls back. */
  fatal?: string;
  /** DNS servers the connected VPN supplied (written to the namespace resolv.conf unless the config sets dns). */
  vpnDns?: string[];
  components: Record<string, ComponentStatus>;
}

/** Detail fields only root may read. hostEgressIp: the host's own public address. */
export const PRIVATE_DETAIL = ['hostEgressIp'] as const;

/** What the public copy shows instead of a private value quoted in a message. */
export const HIDDEN = '(hidden: the host\'s address)';

export function statusPath(n: Pick<Names, 'stateDir'>): string {
  return `${n.stateDir}/status.json`;
}

export function privateStatusPath(n: Pick<Names, 'stateDir'>): string {
  return `${n.stateDir}/status.private.json`;
}

/** The full view for root, the public one for everyone else. */
export async function readStatus(n: Pick<Names, 'stateDir'>): Promise<SupervisorStatus | undefined> {
  for (const p of [privateStatusPath(n), statusPath(n)]) {
    try {
      return JSON.parse(readFileSync(p, 'utf8')) as SupervisorStatus;
    } catch {
      /* not readable to us, or not written yet */
    }
  }
  return undefined;
}

/** The private values in a status (to hide them from the public copy). */
export function privateValues(s: SupervisorStatus): string[] {
  const out: string[] = [];
  for (const c of Object.values(s.components)) {
    for (const k of PRIVATE_DETAIL) {
      const v = c.detail?.[k];
      if (typeof v === 'string' && v) out.push(v);
    }
  }
  return out;
}

/**
 * The copy anyone may read: no private field, and no private value anywhere else (a lastError such
 * as "egress leak: the probe saw the host's own address 198.51.100.7"). `hidden` holds every private
 * value this supervisor ever wrote, so a message that outlives a re-measured address is covered too.
 */
export function publicStatus(s: SupervisorStatus, hidden: Iterable<string>): SupervisorStatus {
  const values = [...new Set(hidden)].filter((v) => v.length > 0).sort((a, b) => b.length - a.length);
  const scrub = (x: unknown): unknown => {
    if (typeof x === 'string') return values.reduce((t, v) => t.split(v).join(HIDDEN), x);
    if (Array.isArray(x)) return x.map(scrub);
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, scrub(v)]));
    return x;
  };
  const components: Record<string, ComponentStatus> = {};
  for (const [name, c] of Object.entries(s.components)) {
    const detail = c.detail && Object.fromEntries(Object.entries(c.detail).filter(([k]) => !(PRIVATE_DETAIL as readonly string[]).includes(k)));
    components[name] = { ...c, ...(detail ? { detail } : {}) };
  }
  return scrub({ ...s, components }) as SupervisorStatus;
}

/** Every private value written by this process (see publicStatus). */
const everHidden = new Set<string>();
/** Start times of the PIDs in the status now, read once: the first write follows the spawn at once. */
const startOf = new Map<number, number | undefined>();

/**
 * Stamps every PID with its start time. The supervisor writes right after it spawns (in the same
 * tick, before Node can reap the child), so the time read is the child's own.
 */
function stampStarts(s: SupervisorStatus): void {
  const listed = new Set<number>();
  const stamp = (pid: number | undefined): number | undefined => {
    if (pid === undefined) return undefined;
    listed.add(pid);
    if (!startOf.has(pid)) startOf.set(pid, identify(pid)?.start);
    return startOf.get(pid);
  };
  s.pidStart = stamp(s.pid);
  for (const c of Object.values(s.components)) {
    const start = stamp(c.pid);
    if (start === undefined) delete c.pidStart;
    else c.pidStart = start;
  }
  for (const pid of [...startOf.keys()]) if (!listed.has(pid)) startOf.delete(pid);
}

function writeAtomic(p: string, text: string, mode: number): void {
  // A leftover temporary keeps its old mode: replaceFileSync starts from none.
  replaceFileSync(p, text, mode);
}

export function writeStatusSync(n: Pick<Names, 'stateDir'>, s: SupervisorStatus): void {
  stampStarts(s);
  for (const v of privateValues(s)) everHidden.add(v);
  try {
    // The private copy first: a reader that finds the public one new finds this one at least as new.
    writeAtomic(privateStatusPath(n), JSON.stringify(s, null, 2) + '\n', 0o600);
    writeAtomic(statusPath(n), JSON.stringify(publicStatus(s, everHidden), null, 2) + '\n', 0o644);
  } catch {
    /* the state dir is gone: we are being torn down */
  }
}
