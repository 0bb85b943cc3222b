// `vpnns publish add|remove|list`: publish a namespace port on the host while the namespace runs,
// without editing the config or restarting anything else. Added ports last until `down`. The CLI
// asks the supervisor on its control socket; the supervisor checks the request, keeps the list,
// starts or stops the forwarder (or loads the host table for `via: kernel`) and answers once the
// port works, or puts back what was there.
import type { Config, PublishConfig } from '../config/types.js';
import { UsageError, VpnnsError } from '../errors.js';
import { netnsExists } from '../net/ip.js';
import { acquireLock } from '../core/lock.js';
import { namesFor, type Names } from '../core/names.js';
import { readState, type State } from '../core/state.js';
import { entryFromArgs, readAdded, withAdded } from '../services/added-publications.js';
import { formatHostPort } from '../config/net-utils.js';
import { requireHostPort } from '../services/forward.js';
import { exposureWarnings, publication, publications } from '../services/publish.js';
import { ADDED_ORIGIN } from '../services/added-publications.js';
import { isOurSupervisor, supervisorPid, supervisorStart } from '../supervisor/resource.js';
import { readStatus, type SupervisorStatus } from '../core/status.js';
import { ask } from '../supervisor/control-client.js';
import { System } from '../sys/system.js';
import { configFrom, requireRoot, type Command, type Io } from './command.js';
import type { Parsed } from './args.js';

export { entryFromArgs };

const USAGE = `vpnns publish add TARGET [--host ADDR:PORT] [--via forwarder|relay|kernel]
                           publish namespace port TARGET on the host (default 127.0.0.1:TARGET)
vpnns publish remove HOST  stop publishing it (HOST is ADDR:PORT, or PORT for 127.0.0.1:PORT)
vpnns publish list         every published port: from the config and added here (--json)

Ports added here last until \`vpnns down\`; to keep one, write it under \`publish:\` in the config.
A bind beyond loopback reaches other machines on the network and prints a warning.`;

/** How long the supervisor may take to make the forwarder answer. */
const WAIT_MS = 15_000;

interface Running {
  names: Names;
  state: State;
  /** The config `up` applied. */
  applied: Config;
}

async function running(args: Parsed, sys: System): Promise<Running> {
  const file = await configFrom(args);
  const names = namesFor(file);
  const state = await readState(names);
  if (!state || !(await netnsExists(sys, names.ns))) throw new VpnnsError(`namespace ${names.ns} is not up; run \`sudo vpnns up\` first.`);
  if (!(await isOurSupervisor(supervisorPid(state), names.ns, supervisorStart(state)))) {
    throw new VpnnsError(
      `the vpnns supervisor of namespace ${names.ns} is not running (under systemd, add the port to the config's \`publish:\` and run \`sudo vpnns systemd install\`); otherwise run \`sudo vpnns up\` again.`,
    );
  }
  return { names, state, applied: state.config };
}

async function add(args: Parsed, io: Io): Promise<number> {
  requireRoot('publish add');
  // Checked here for a sentence without a round trip, and again by the supervisor, which acts on it.
  const entry = entryFromArgs(args.positional[1], args.opts.host, args.opts.via);
  if (args.positional.length > 2) throw new UsageError(`unexpected argument "${args.positional[2]}"; see \`vpnns publish --help\`.`);
  const sys = new System(false);
  const r = await running(args, sys);
  const lock = await acquireLock(r.names.lockFile, `publish on ${r.names.ns}`);
  try {
    const pub = publication(entry, r.names, ADDED_ORIGIN);
    const dryRun = args.opts['dry-run'] === true;
    const res = await ask<{ listen: string; target: string; how: string }>(r.names, 'publish.add', {
      target: String(entry.target),
      host: formatHostPort(pub.listen),
      via: pub.via,
      dryRun,
      waitMs: WAIT_MS,
    });
    for (const w of exposureWarnings([pub])) io.err(`WARNING: ${w}`);
    if (dryRun) io.out(`would publish ${res.listen} -> ${res.target} (${res.how}) until \`vpnns down\`; nothing changed (--dry-run).`);
    else io.out(`published ${res.listen} -> ${res.target} (${res.how}) until \`vpnns down\`.`);
    return 0;
  } finally {
    await lock.release();
  }
}

async function remove(args: Parsed, io: Io): Promise<number> {
  requireRoot('publish remove');
  const what = args.positional[1];
  if (!what) throw new UsageError('which one? e.g. `vpnns publish remove 127.0.0.1:9000` (or just the port for 127.0.0.1).');
  if (args.positional.length > 2) throw new UsageError(`unexpected argument "${args.positional[2]}"; see \`vpnns publish --help\`.`);
  let key: string;
  try {
    key = formatHostPort(/^\d+$/.test(what) ? { host: '127.0.0.1', port: Number(what) } : requireHostPort(what));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}.`);
  }
  const sys = new System(false);
  const r = await running(args, sys);
  const lock = await acquireLock(r.names.lockFile, `publish on ${r.names.ns}`);
  try {
    const dryRun = args.opts['dry-run'] === true;
    await ask(r.names, 'publish.remove', { host: key, dryRun, waitMs: WAIT_MS });
    io.out(dryRun ? `would remove ${key}; nothing changed (--dry-run).` : `removed ${key}.`);
    return 0;
  } finally {
    await lock.release();
  }
}

async function list(args: Parsed, io: Io): Promise<number> {
  const file = await configFrom(args);
  const names = namesFor(file);
  const state = await readState(names);
  // A live supervisor (root) answers with what it runs now; otherwise (no root, no supervisor) the
  // files it leaves: status.json is world-readable, state.json (and so the added ports) only root's.
  const live = state && (await isOurSupervisor(supervisorPid(state), names.ns, supervisorStart(state)));
  const added = live ? await ask<PublishConfig[]>(names, 'publish.list') : state ? await readAdded(names) : [];
  const cfg = state ? withAdded(state.config, added) : file;
  const status = live ? await ask<SupervisorStatus>(names, 'status') : await readStatus(names);
  const unprivileged = typeof process.getuid === 'function' && process.getuid() !== 0;
  if (!state && status && unprivileged) io.err('note: ports added with `vpnns publish add` are shown only to root: sudo vpnns publish list');
  const rows = publications(cfg, names).map((p) => ({
    listen: formatHostPort(p.listen),
    target: formatHostPort(p.target),
    via: p.via,
    origin: p.origin,
    state: !status ? 'down' : p.via === 'kernel' ? 'active' : (status.components[p.name]?.state ?? 'unknown'),
  }));
  if (args.opts.json === true) {
    io.out(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (!rows.length) {
    io.out('nothing is published; add ports under `publish:` in the config, or `sudo vpnns publish add PORT`.');
    return 0;
  }
  const w = Math.max(6, ...rows.map((r) => r.listen.length));
  io.out(`${'HOST'.padEnd(w)}  ${'NAMESPACE'.padEnd(15)}  ${'VIA'.padEnd(9)}  ${'STATE'.padEnd(8)}  FROM`);
  for (const r of rows) io.out(`${r.listen.padEnd(w)}  ${r.target.padEnd(15)}  ${r.via.padEnd(9)}  ${r.state.padEnd(8)}  ${r.origin}`);
  return 0;
}

export const publishCommand: Command = {
  name: 'publish',
  dryRun: true,
  usage: USAGE,
  options: { namespace: { value: true }, host: { value: true }, via: { value: true }, json: {} },
  async run(args, io) {
    switch (args.positional[0]) {
      case 'add':
        return add(args, io);
      case 'remove':
        return remove(args, io);
      case 'list':
        return list(args, io);
      default:
        throw new UsageError(args.positional[0] ? `unknown publish command "${args.positional[0]}"; use add, remove or list.` : 'which publish command? add, remove or list; see `vpnns publish --help`.');
    }
  },
};
