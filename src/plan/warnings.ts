// What `up` warns about before it changes anything, and the apps' users it settles first: apps
// run as whoever ran `sudo vpnns up`, resolved now and saved with the state the supervisor reads.
import type { Config } from '../config/types.js';
import { allowWarnings } from '../config/exceptions.js';
import { namesFor } from '../core/names.js';
import { resolveAppUsers } from '../services/apps.js';
import { exposureWarnings, publications } from '../services/publish.js';
import type { Invoker } from '../members/invoker.js';

/** Resolves the apps' users of `cfg` (in place) to `invoker` where the config names none; returns every warning, in the order they are printed. */
export function upWarnings(cfg: Config, invoker: Invoker): string[] {
  const out: string[] = [];
  if (cfg.vpn.type !== 'none' && !cfg.killSwitch) {
    out.push('killSwitch is false: when the VPN drops, programs in the namespace reach the internet directly, unprotected.');
  }
  out.push(...exposureWarnings(publications(cfg, namesFor(cfg))), ...allowWarnings(cfg.allow ?? []));
  out.push(...resolveAppUsers(cfg, invoker));
  return out;
}
