// `vpnns publish list`: every published port of a namespace (the config's and those added with
// `vpnns publish add`) and whether it works. A live supervisor (root) answers with what it runs
// now; otherwise (no root, no supervisor) the files it leaves: status.json is world-readable,
// state.json (and so the added ports) only root's.
import type { Config, PublishConfig, PublishVia } from '../config/types.js';
import { namesFor } from '../core/names.js';
import { readState } from '../core/state.js';
import { readStatus, type SupervisorStatus } from '../core/status.js';
import { readAdded, withAdded } from '../services/added-publications.js';
import { formatHostPort } from '../config/net-utils.js';
import { publications } from '../services/publish.js';
import { ask } from '../supervisor/control-client.js';
import { isOurSupervisor, supervisorPid, supervisorStart } from '../supervisor/resource.js';

export interface PublicationRow {
  listen: string;
  target: string;
  via: PublishVia;
  origin: string;
  /** down (namespace not up), active (kernel DNAT), or the forwarder's state. */
  state: string;
}

export interface PublicationList {
  rows: PublicationRow[];
  /** The namespace runs but the added ports could not be read (state.json is root's). */
  addedHidden: boolean;
}

export async function listPublications(file: Config): Promise<PublicationList> {
  const names = namesFor(file);
  const state = await readState(names);
  const live = state && (await isOurSupervisor(supervisorPid(state), names.ns, supervisorStart(state)));
  const added = live ? await ask<PublishConfig[]>(names, 'publish.list') : state ? await readAdded(names) : [];
  const cfg = state ? withAdded(state.config, added) : file;
  const status = live ? await ask<SupervisorStatus>(names, 'status') : await readStatus(names);
  const unprivileged = typeof process.getuid === 'function' && process.getuid() !== 0;
  const rows = publications(cfg, names).map((p) => ({
    listen: formatHostPort(p.listen),
    target: formatHostPort(p.target),
    via: p.via,
    origin: p.origin,
    state: !status ? 'down' : p.via === 'kernel' ? 'active' : (status.components[p.name]?.state ?? 'unknown'),
  }));
  return { rows, addedHidden: !state && Boolean(status) && unprivileged };
}
