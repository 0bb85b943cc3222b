// Which process a PID names. A PID alone is a number the kernel hands out again once its process is
// gone, so a PID stored in a file (state.json, status.json) may name someone else's process by the
// time it is read. A PID plus its start time (/proc/PID/stat field 22, clock ticks after boot) names
// one process: the same PID is not handed out again within one tick.
import { readdirSync, readFileSync, statSync } from 'node:fs';

export interface ProcId {
  pid: number;
  /** /proc/PID/stat field 22. */
  start: number;
}

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgid: number;
  sid: number;
  start: number;
}

/** Fields of /proc/PID/stat; the command name (field 2) may hold spaces and parentheses, so parse after the last ')'. */
export function parseProcStat(pid: number, text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = text.slice(close + 2).trim().split(' ');
  // f[0] is field 3 (state); field N is f[N - 3].
  const num = (n: number) => Number(f[n - 3]);
  const st: ProcStat = { pid, state: f[0] ?? '', ppid: num(4), pgid: num(5), sid: num(6), start: num(22) };
  return [st.ppid, st.pgid, st.sid, st.start].every(Number.isInteger) ? st : undefined;
}

export function procStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return parseProcStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The identity of a live process now (undefined if there is none, or it is a zombie). */
export function identify(pid: number | undefined): ProcId | undefined {
  const st = pid === undefined ? undefined : procStat(pid);
  return st && st.state !== 'Z' ? { pid: st.pid, start: st.start } : undefined;
}

/** Is the process that had this identity still alive (not a zombie), under the same PID? */
export function stillRunning(id: ProcId | undefined): boolean {
  if (!id) return false;
  const now = identify(id.pid);
  return now !== undefined && now.start === id.start;
}

/** The owner's uid of a process, or undefined when it is gone. */
export function uidOf(pid: number): number | undefined {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch {
    return undefined;
  }
}

/** Every process now, from /proc (for group and descendant lookups). */
export function allProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const st = procStat(Number(e));
    if (st) out.push(st);
  }
  return out;
}

/** Reads a stored identity back from JSON (anything else is no identity). */
export function asProcId(pid: unknown, start: unknown): ProcId | undefined {
  return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 && typeof start === 'number' && Number.isInteger(start) ? { pid, start } : undefined;
}
