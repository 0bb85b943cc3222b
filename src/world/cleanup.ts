// Ownership and teardown of worlds. A world writes an owner record before it
// creates anything and removes it last, so whatever a crashed run strands can
// be found and removed by a later run, while a live run (its owner process
// still there, same start time) is never touched.
//
// Teardown works from names, not only from what this process remembers: every
// namespace named "<prefix>-*" (including scratch ones tests add), every
// process inside them, /etc/netns/<prefix>-*, WireGuard sockets named
// "<prefix>*", the run directory.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { makeDirSync, removePathSync, replaceFileSync } from '../sys/files.js';
import { join } from 'node:path';
import { isAlive, runSyncQuiet } from './run.js';

export const OWNER_DIR = '/run/vpnns-test';
const WG_SOCKET_DIR = '/var/run/wireguard';

export interface OwnerRecord {
  prefix: string;
  pid: number;
  /** /proc/<pid>/stat start time, so a recycled pid is not mistaken for the owner. */
  pidStart: string;
  dir: string;
  /** Namespaces outside "<prefix>-*" that the world was asked to remove too. */
  extraNamespaces: string[];
}

function procStart(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function ownerPath(prefix: string): string {
  return join(OWNER_DIR, `${prefix}.owner`);
}

export function writeOwner(rec: Omit<OwnerRecord, 'pid' | 'pidStart'>): OwnerRecord {
  makeDirSync(OWNER_DIR, 0o700);
  const full: OwnerRecord = { ...rec, pid: process.pid, pidStart: procStart(process.pid) };
  replaceFileSync(ownerPath(rec.prefix), `${JSON.stringify(full)}\n`, 0o600);
  return full;
}

function ownerIsAlive(rec: OwnerRecord): boolean {
  return isAlive(rec.pid) && procStart(rec.pid) === rec.pidStart;
}

export function listNamespaces(): string[] {
  return runSyncQuiet(['ip', 'netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

export function namespacePids(ns: string): number[] {
  return runSyncQuiet(['ip', 'netns', 'pids', ns])
    .split('\n')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone already */
  }
}

/**
 * Removes everything of a world, synchronously (usable from an exit handler).
 * `pids` are processes the caller started; anything else still inside the
 * world's namespaces is killed too, since it can only have been started by
 * this world's tests.
 */
export function teardownSync(rec: Pick<OwnerRecord, 'prefix' | 'dir' | 'extraNamespaces'>, pids: Iterable<number> = [], keepDir = false): void {
  const mine = listNamespaces().filter((ns) => ns.startsWith(`${rec.prefix}-`) || rec.extraNamespaces.includes(ns));
  const victims = new Set<number>(pids);
  for (const ns of mine) for (const pid of namespacePids(ns)) victims.add(pid);
  victims.delete(process.pid);
  for (const pid of victims) kill(pid, 'SIGKILL');
  // Deleting a namespace only unmounts it; it is gone once no process holds it,
  // which the SIGKILLs above ensure.
  for (const ns of mine) runSyncQuiet(['ip', 'netns', 'delete', ns]);
  for (const ns of [...mine, ...rec.extraNamespaces, `${rec.prefix}-wan`, `${rec.prefix}-host`, `${rec.prefix}-lan`, `${rec.prefix}-vsrv`]) {
    removePathSync(join('/etc/netns', ns));
  }
  if (existsSync('/etc/netns')) {
    for (const e of readdirSync('/etc/netns')) if (e.startsWith(`${rec.prefix}-`)) removePathSync(join('/etc/netns', e));
  }
  if (existsSync(WG_SOCKET_DIR)) {
    // The world's servers are "<prefix>…", vpnns's clients in its namespaces "vt-<prefix>-…".
    for (const e of readdirSync(WG_SOCKET_DIR)) if (e.startsWith(rec.prefix) || e.startsWith(`vt-${rec.prefix}-`)) removePathSync(join(WG_SOCKET_DIR, e));
  }
  if (!keepDir) removePathSync(rec.dir);
  removePathSync(ownerPath(rec.prefix));
}

/** Removes the leftovers of earlier runs whose owner process is gone. Returns their prefixes. */
export async function sweepStaleWorlds(): Promise<string[]> {
  if (!existsSync(OWNER_DIR)) return [];
  const swept: string[] = [];
  for (const file of readdirSync(OWNER_DIR)) {
    if (!file.endsWith('.owner')) continue;
    let rec: OwnerRecord;
    try {
      rec = JSON.parse(readFileSync(join(OWNER_DIR, file), 'utf8')) as OwnerRecord;
    } catch {
      continue; // being written right now, or not ours to judge
    }
    if (ownerIsAlive(rec)) continue;
    teardownSync(rec, [], process.env.KEEP_WORLD === '1');
    swept.push(rec.prefix);
  }
  return swept;
}
