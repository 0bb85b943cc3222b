// Putting a namespace's units on the machine and taking them off again. The units run a snapshot
// of the config taken at install time (/etc/vpnns/<ns>.yaml): what starts at boot is what was
// installed, not whatever the user's file says by then, and it does not depend on a file under
// /home that ProtectHome= or a later edit could hide.
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import type { Config } from '../config/types.js';
import { parseConfig } from '../config/load.js';
import type { Names } from '../core/names.js';
import type { ServiceSpec } from '../core/services.js';
import type { System } from '../sys/system.js';
import { VpnnsError } from '../errors.js';
import { NAMESPACE_KEY, renderUnits, unitNames, type RenderedFile, type UnitRuntime } from './units.js';

export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
export const DEFAULT_CONFIG_DIR = '/etc/vpnns';

export function snapshotPath(configDir: string, ns: string): string {
  return `${configDir}/${ns}.yaml`;
}

/**
 * The loaded config (defaults filled, paths absolute) as YAML that loads back to the same config,
 * so relative paths in the user's file cannot change meaning in its new place.
 */
export function configSnapshot(cfg: Config): string {
  const { source, ...rest } = cfg;
  const text = `# Written by \`vpnns systemd install\`${source ? ` from ${source}` : ''}; the units run this copy.\n${stringify(rest)}`;
  const back = parseConfig(text);
  if (!isDeepStrictEqual({ ...back, source: undefined }, { ...rest, source: undefined })) {
    throw new VpnnsError('internal error: the config snapshot for the systemd units does not load back to the same config');
  }
  return text;
}

export interface Plan {
  units: RenderedFile[];
  snapshot: { path: string; text: string };
}

export function planInstall(cfg: Config, names: Names, specs: readonly ServiceSpec[], runtime: UnitRuntime, configDir: string): Plan {
  const path = snapshotPath(configDir, names.ns);
  return { units: renderUnits({ cfg, names, specs, configPath: path, runtime }), snapshot: { path, text: configSnapshot(cfg) } };
}

/** The namespace a unit file was written for, from its marker line; undefined if it is not ours. */
export function unitOwner(text: string): string | undefined {
  return new RegExp(`^${NAMESPACE_KEY}=(.+)$`, 'm').exec(text)?.[1];
}

async function ownedUnits(unitDir: string, ns: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(unitDir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries.filter((e) => e.startsWith(`vpnns-${ns}`)).sort()) {
    const text = await readFile(`${unitDir}/${e}`, 'utf8').catch(() => '');
    if (unitOwner(text) === ns) out.push(e);
  }
  return out;
}

export interface InstallOptions {
  unitDir: string;
  enable: boolean;
  /** Start the target now (needs a running systemd). */
  now: boolean;
}

/** Running systemd manages unit files only in its own directory; a test's scratch directory is left to us. */
export function managesSystemd(unitDir: string): boolean {
  return unitDir === DEFAULT_UNIT_DIR && existsSync('/run/systemd/system');
}

const wantsLink = (unitDir: string, ns: string) => `${unitDir}/multi-user.target.wants/${unitNames.target(ns)}`;

export async function install(sys: System, ns: string, plan: Plan, opts: InstallOptions, say: (l: string) => void): Promise<void> {
  const systemd = managesSystemd(opts.unitDir);
  if (opts.now && !systemd) {
    throw new VpnnsError(`--now needs systemd running as PID 1 and the unit directory ${DEFAULT_UNIT_DIR}; leave out --now, or start ${unitNames.target(ns)} yourself.`, { exitCode: 2 });
  }
  for (const u of plan.units) {
    const existing = await readFile(`${opts.unitDir}/${u.name}`, 'utf8').catch(() => undefined);
    const owner = existing === undefined ? ns : unitOwner(existing);
    if (owner !== ns) {
      throw new VpnnsError(
        `${opts.unitDir}/${u.name} exists and was not written by vpnns for namespace ${ns}${owner ? ` (it belongs to namespace ${owner})` : ''}; rename this namespace or remove that file.`,
        { exitCode: 2 },
      );
    }
  }
  // The config may hold a SOCKS password: 0600.
  await sys.writeFile(plan.snapshot.path, plan.snapshot.text, { mode: 0o600, secret: true });
  const keep = new Set(plan.units.map((u) => u.name));
  for (const stale of (await ownedUnits(opts.unitDir, ns)).filter((n) => !keep.has(n))) {
    await sys.remove(`${opts.unitDir}/${stale}`);
    say(`removed ${stale} (no longer in the config)`);
  }
  for (const u of plan.units) await sys.writeFile(`${opts.unitDir}/${u.name}`, u.text, { mode: 0o644 });
  say(`wrote ${plan.units.length} units to ${opts.unitDir} and the config to ${plan.snapshot.path}`);
  const target = unitNames.target(ns);
  if (systemd) await sys.change(['systemctl', 'daemon-reload']);
  if (opts.enable) {
    if (systemd) await sys.change(['systemctl', 'enable', target]);
    else {
      // What `systemctl enable` would do, for an offline root or a scratch directory.
      const link = wantsLink(opts.unitDir, ns);
      if ((await readlink(link).catch(() => undefined)) === undefined) {
        await sys.mkdir(`${opts.unitDir}/multi-user.target.wants`);
        await sys.symlink(`${opts.unitDir}/${target}`, link);
      }
    }
    say(`enabled ${target}: it starts at boot`);
  }
  if (opts.now) {
    await sys.change(['systemctl', 'start', target], { timeoutMs: 300_000 });
    say(`started ${target}`);
  }
}

export async function uninstall(sys: System, ns: string, opts: { unitDir: string; configDir: string }, say: (l: string) => void): Promise<boolean> {
  const systemd = managesSystemd(opts.unitDir);
  const units = await ownedUnits(opts.unitDir, ns);
  const target = unitNames.target(ns);
  if (systemd && units.length) {
    await sys.change(['systemctl', 'disable', target], { allowFail: true });
    // A target's stop job finishes before its parts stop; the netns unit's stop job finishes only
    // after every part is down and `vpnns down` has run, so wait for it before the files go.
    await sys.change(['systemctl', 'stop', target, unitNames.netns(ns)], { timeoutMs: 300_000, allowFail: true });
  }
  // Failed units stay listed after their files are gone unless forgotten now.
  if (systemd && units.length) await sys.change(['systemctl', 'reset-failed', ...units], { allowFail: true });
  const link = wantsLink(opts.unitDir, ns);
  if ((await readlink(link).catch(() => undefined)) !== undefined) await sys.remove(link);
  for (const u of units) await sys.remove(`${opts.unitDir}/${u}`);
  const snap = snapshotPath(opts.configDir, ns);
  const hadSnapshot = existsSync(snap);
  if (hadSnapshot) await sys.remove(snap);
  if (systemd && units.length) await sys.change(['systemctl', 'daemon-reload']);
  if (units.length) say(`removed ${units.length} units of namespace ${ns} from ${opts.unitDir}`);
  return units.length > 0 || hadSnapshot;
}
