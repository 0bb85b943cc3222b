// Ports published at run time (`vpnns publish add|remove`), kept in /run/vpnns/<ns>/published.json
// next to the state: the supervisor, the host table, status and check read the config plus these.
// They live until `down` on purpose (the state dir goes with it); what should last goes in the config.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import type { Config, PublishConfig } from '../config/types.js';
import type { Names } from '../plan/names.js';

export const ADDED_ORIGIN = '`vpnns publish add`';

export function addedPath(n: Pick<Names, 'stateDir'>): string {
  return `${n.stateDir}/published.json`;
}

export async function readAdded(n: Pick<Names, 'stateDir'>): Promise<PublishConfig[]> {
  try {
    const list = JSON.parse(await readFile(addedPath(n), 'utf8')) as unknown;
    return Array.isArray(list) ? (list as PublishConfig[]) : [];
  } catch {
    return [];
  }
}

export async function writeAdded(n: Pick<Names, 'stateDir'>, list: PublishConfig[]): Promise<void> {
  await mkdir(n.stateDir, { recursive: true, mode: 0o755 });
  const tmp = `${addedPath(n)}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(list, null, 2)}\n`, { mode: 0o644 });
  await rename(tmp, addedPath(n));
}

/** The config as it runs now: its own publications, then the ones added at run time (marked). */
export function withAdded(cfg: Config, added: readonly PublishConfig[]): Config {
  if (!added.length) return cfg;
  return { ...cfg, publish: [...cfg.publish, ...added.map((p) => ({ ...p, added: true as const }))] };
}

export async function runningConfig(cfg: Config, n: Pick<Names, 'stateDir'>): Promise<Config> {
  return withAdded(cfg, await readAdded(n));
}
