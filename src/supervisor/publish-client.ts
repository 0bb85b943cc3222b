// The CLI's side of `vpnns publish add|remove`: find the namespace's live supervisor, hold the
// namespace's lock while it acts (so no `up` or `down` runs under it), and ask it. The supervisor
// checks the request again, records it, loads the host table or starts the forwarder, and answers
// once the port works, or puts back what was there (control-server, supervisor.ts).
import type { Config, PublishConfig } from '../config/types.js';
import { VpnnsError } from '../errors.js';
import { acquireLock } from '../core/lock.js';
import { namesFor, type Names } from '../core/names.js';
import { readState, type State } from '../core/state.js';
import { netnsExists } from '../net/ip.js';
import { ADDED_ORIGIN } from '../services/added-publications.js';
import { formatHostPort } from '../config/net-utils.js';
import { publication, type Publication } from '../services/publish.js';
import { System } from '../sys/system.js';
import { ask } from './control-client.js';
import { isOurSupervisor, supervisorPid, supervisorStart } from './resource.js';

/** How long the supervisor may take to make the forwarder answer. */
const WAIT_MS = 15_000;

/** What the supervisor answers to `publish.add`. */
export interface Published {
  listen: string;
  target: string;
  how: string;
}

interface Running {
  names: Names;
  state: State;
}

/** The namespace of `cfg`, up and with its supervisor running, or one sentence saying what to do. */
async function running(cfg: Config): Promise<Running> {
  const names = namesFor(cfg);
  const state = await readState(names);
  if (!state || !(await netnsExists(new System(false), names.ns))) throw new VpnnsError(`namespace ${names.ns} is not up; run \`sudo vpnns up\` first.`);
  if (!(await isOurSupervisor(supervisorPid(state), names.ns, supervisorStart(state)))) {
    throw new VpnnsError(
      `the vpnns supervisor of namespace ${names.ns} is not running (under systemd, add the port to the config's \`publish:\` and run \`sudo vpnns systemd install\`); otherwise run \`sudo vpnns up\` again.`,
    );
  }
  return { names, state };
}

async function locked<T>(r: Running, f: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(r.names.lockFile, `publish on ${r.names.ns}`);
  try {
    return await f();
  } finally {
    await lock.release();
  }
}

/** Publishes `entry` on the running namespace of `cfg` until `down`; `pub` is what it asked for (for warnings). */
export async function requestPublish(cfg: Config, entry: PublishConfig, dryRun: boolean): Promise<{ pub: Publication; answer: Published }> {
  const r = await running(cfg);
  return locked(r, async () => {
    const pub = publication(entry, r.names, ADDED_ORIGIN);
    const answer = await ask<Published>(r.names, 'publish.add', { target: String(entry.target), host: formatHostPort(pub.listen), via: pub.via, dryRun, waitMs: WAIT_MS });
    return { pub, answer };
  });
}

/** Stops publishing `host` (ADDR:PORT as formatHostPort writes it) on the running namespace of `cfg`. */
export async function requestUnpublish(cfg: Config, host: string, dryRun: boolean): Promise<void> {
  const r = await running(cfg);
  await locked(r, () => ask(r.names, 'publish.remove', { host, dryRun, waitMs: WAIT_MS }));
}
