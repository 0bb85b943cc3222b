// One atomic `nft -f` per table: the table is created if missing, deleted and re-declared in the
// same transaction, so there is never a moment with half a ruleset (or none).
import type { System } from '../sys/system.js';

export type Family = 'inet' | 'ip' | 'ip6';

export function replaceTableScript(family: Family, name: string, body: string): string {
  return `table ${family} ${name}\ndelete table ${family} ${name}\n${body}`;
}

function inNs(ns: string | undefined, argv: string[]): string[] {
  return ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
}

/**
 * Like replaceTableScript, but the whole transaction fails, changing nothing, if the table exists
 * already. `create table` succeeding means the table is new and empty, so the body declares all of
 * it: no `delete table` to clear it. (Deleting a table in a transaction makes its commit wait for
 * the kernel's RCU grace period, about 10 ms of every such load; `up` makes two on its way to the
 * first byte.)
 */
export function createTableScript(family: Family, name: string, body: string): string {
  return `create table ${family} ${name}\n${body}`;
}

/** Loads the table atomically; `fresh`: only if no table of that name exists (someone else's stays as it is). */
export async function loadTable(sys: System, family: Family, name: string, body: string, ns?: string, opts: { fresh?: boolean } = {}): Promise<void> {
  await sys.change(inNs(ns, ['nft', '-f', '-']), { input: (opts.fresh ? createTableScript : replaceTableScript)(family, name, body) });
}

export async function deleteTable(sys: System, family: Family, name: string, ns?: string): Promise<boolean> {
  if (!(await tableExists(sys, family, name, ns))) return false;
  await sys.change(inNs(ns, ['nft', 'delete', 'table', family, name]), { allowFail: true });
  return true;
}

export async function tableExists(sys: System, family: Family, name: string, ns?: string): Promise<boolean> {
  const r = await sys.query(inNs(ns, ['nft', 'list', 'table', family, name]), { allowFail: true });
  return r.code === 0;
}

/** The table as nft prints it, for comparing what is loaded with what was rendered. */
export async function listTable(sys: System, family: Family, name: string, ns?: string): Promise<string | undefined> {
  const r = await sys.query(inNs(ns, ['nft', 'list', 'table', family, name]), { allowFail: true });
  return r.code === 0 ? r.stdout : undefined;
}

/** Every table as `family name` ("inet vpnns-x"); undefined when nft could not list them. */
export async function listTables(sys: System, ns?: string): Promise<string[] | undefined> {
  const r = await sys.query(inNs(ns, ['nft', 'list', 'tables']), { allowFail: true });
  if (r.code !== 0) return undefined;
  return r.stdout
    .split('\n')
    .map((l) => l.replace(/^table\s+/, '').trim())
    .filter(Boolean);
}

/** nft quotes interface names; a name is only ever one of ours (or a prefix with a trailing *), checked. */
export function q(s: string): string {
  if (!/^[\w.@:-]+\*?$/.test(s)) throw new Error(`refusing to put ${JSON.stringify(s)} in an nft ruleset`);
  return `"${s}"`;
}
