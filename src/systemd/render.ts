// `vpnns systemd render|install`'s plan: a config's units and its snapshot, with every service
// module registered (services/index.ts) so the units cover them all; and `render --out DIR`.
import { resolve } from 'node:path';
import type { Config } from '../config/types.js';
import { namesFor, type Names } from '../core/names.js';
import { serviceSpecs } from '../core/services.js';
import { makeDir, replaceFile } from '../sys/files.js';
import { planInstall, type Plan } from './install.js';
import { defaultRuntime } from './units.js';
import '../services/index.js';

/** The units and config snapshot of `cfg` as this machine runs them, the snapshot kept in `configDir`. */
export function planFor(cfg: Config, configDir: string): { names: Names; plan: Plan } {
  const names = namesFor(cfg);
  return { names, plan: planInstall(cfg, names, serviceSpecs(cfg, names), defaultRuntime(), configDir) };
}

/** Writes the plan's units into `out` (a directory of the caller's, not systemd's); returns its absolute path. */
export async function writeUnits(plan: Plan, out: string): Promise<string> {
  await makeDir(out);
  for (const u of plan.units) await replaceFile(resolve(out, u.name), u.text, 0o644);
  return resolve(out);
}
