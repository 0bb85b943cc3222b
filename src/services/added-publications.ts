// Ports published at run time (`vpnns publish add|remove`, carried to the supervisor over its control
// socket), kept by the supervisor in /run/vpnns/<ns>/published.json next to the state, so they survive
// a restart of the supervisor; the host table, status and check read the config plus these.
// They live until `down` on purpose (the state dir goes with it); what should last goes in the config.
import { readFile } from 'node:fs/promises';
import { replaceFile } from '../sys/files.js';
import type { Config, PublishConfig } from '../config/types.js';
import type { Names } from '../core/names.js';
import { parseConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { formatHostPort } from '../config/net-utils.js';
import { UsageError } from '../errors.js';
import { requireHostPort } from './forward.js';

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
  await replaceFile(addedPath(n), `${JSON.stringify(list, null, 2)}\n`, 0o644, 0o755);
}

/** The config as it runs now: its own publications, then the ones added at run time (marked). */
export function withAdded(cfg: Config, added: readonly PublishConfig[]): Config {
  if (!added.length) return cfg;
  return { ...cfg, publish: [...cfg.publish, ...added.map((p) => ({ ...p, added: true as const }))] };
}

export async function runningConfig(cfg: Config, n: Pick<Names, 'stateDir'>): Promise<Config> {
  return withAdded(cfg, await readAdded(n));
}

/** The entry as the config would have it, validated by the config's own rules. */
export function entryFromArgs(target: string | undefined, host: string | boolean | undefined, via: string | boolean | undefined): PublishConfig {
  if (!target || !/^\d+$/.test(target)) throw new UsageError('which namespace port? e.g. `vpnns publish add 3000` or `vpnns publish add 3000 --host 127.0.0.1:9000`.');
  if (host === true || via === true) throw new UsageError(`--${host === true ? 'host' : 'via'} needs a value; see \`vpnns publish --help\`.`);
  const fields = [`target: ${target}`, ...(host !== undefined && host !== false ? [`host: ${JSON.stringify(host)}`] : []), ...(via !== undefined && via !== false ? [`via: ${JSON.stringify(via)}`] : [])];
  try {
    return parseConfig(`publish:\n  - { ${fields.join(', ')} }\n`).publish[0]!;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const option = /\.(host|via)$/.exec(e.path)?.[1];
    throw new UsageError(`${option ? `--${option}` : 'TARGET'}: ${e.detail}.`);
  }
}

/** What `vpnns publish remove` names (ADDR:PORT, or PORT for 127.0.0.1:PORT) as formatHostPort writes it: the key it is listed under. */
export function publishedKey(text: string): string {
  try {
    return formatHostPort(/^\d+$/.test(text) ? { host: '127.0.0.1', port: Number(text) } : requireHostPort(text));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}.`);
  }
}
