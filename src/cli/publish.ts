// `vpnns publish add|remove|list`: publish a namespace port on the host while the namespace runs,
// without editing the config or restarting anything else. Added ports last until `down`; the
// supervisor starts their forwarders (SIGUSR1), and `via: kernel` ones go into the host table.
import { parseConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import type { Config, PublishConfig } from '../config/types.js';
import { UsageError, VpnnsError } from '../errors.js';
import { hostTableResource } from '../firewall/host-table.js';
import { netnsExists } from '../net/ip.js';
import { acquireLock } from '../plan/lock.js';
import { namesFor, type Names } from '../plan/names.js';
import { canListen } from '../plan/preflight.js';
import { readState, writeState, type State } from '../plan/state.js';
import { ADDED_ORIGIN, readAdded, withAdded, writeAdded } from '../services/added-publications.js';
import { formatHostPort, parseHostPort } from '../services/forward.js';
import { exposureWarnings, publication, publications, type Publication } from '../services/publish.js';
import { isOurSupervisor, supervisorPid, supervisorStart } from '../supervisor/resource.js';
import { readStatus } from '../supervisor/status.js';
import { sleep } from '../sys/process.js';
import { tcpConnect } from '../checks/gather.js';
import { System } from '../sys/system.js';
import { configFrom, requireRoot, type Command, type Io } from './command.js';
import type { Parsed } from './args.js';

const USAGE = `vpnns publish add TARGET [--host ADDR:PORT] [--via forwarder|kernel]
                           publish namespace port TARGET on the host (default 127.0.0.1:TARGET)
vpnns publish remove HOST  stop publishing it (HOST is ADDR:PORT, or PORT for 127.0.0.1:PORT)
vpnns publish list         every published port: from the config and added here (--json)

Ports added here last until \`vpnns down\`; to keep one, write it under \`publish:\` in the config.
A bind beyond loopback reaches other machines on the network and prints a warning.`;

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

/** The entry as the config would have it, validated by the config's own rules. */
export function entryFromArgs(target: string | undefined, host: string | boolean | undefined, via: string | boolean | undefined): PublishConfig {
  if (!target || !/^\d+$/.test(target)) throw new UsageError('which namespace port? e.g. `vpnns publish add 3000` or `vpnns publish add 3000 --host 127.0.0.1:9000`.');
  if (host === true || via === true) throw new UsageError(`--${host === true ? 'host' : 'via'} needs a value; see \`vpnns publish --help\`.`);
  const fields = [`target: ${target}`, ...(host !== undefined ? [`host: ${JSON.stringify(host)}`] : []), ...(via !== undefined ? [`via: ${JSON.stringify(via)}`] : [])];
  try {
    return parseConfig(`publish:\n  - { ${fields.join(', ')} }\n`).publish[0]!;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const option = /\.(host|via)$/.exec(e.path)?.[1];
    throw new UsageError(`${option ? `--${option}` : 'TARGET'}: ${e.detail}.`);
  }
}

function connectHost(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

async function waitForwarder(names: Names, pub: Publication, present: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = (await readStatus(names))?.components[pub.name];
    // Running is not yet listening: the port answers when the command returns.
    if (present && c?.state === 'running' && (await tcpConnect(connectHost(pub.listen.host), pub.listen.port, 500)).open) return;
    if (present && c?.state === 'backoff' && c.lastError) throw new VpnnsError(`the forwarder for ${formatHostPort(pub.listen)} did not start (${c.lastError}); see \`vpnns logs ${pub.name}\`.`);
    if (!present && !c) return;
    if (Date.now() > deadline) throw new VpnnsError(`the supervisor did not ${present ? 'start' : 'stop'} the forwarder for ${formatHostPort(pub.listen)} within ${Math.round(timeoutMs / 1000)} s; see \`vpnns logs\`.`);
    await sleep(100);
  }
}

/** Applies a new list of added publications: the host table for kernel ones, the supervisor for forwarders. */
async function apply(sys: System, r: Running, added: PublishConfig[], changed: Publication, present: boolean): Promise<void> {
  // Kernel publications live in the host table; forwarders are the supervisor's to start or stop.
  const carry = async () => {
    // The host table also says who may connect to a loopback publication, forwarder or kernel.
    await hostTableResource.apply({ sys, cfg: r.applied, names: r.names, state: r.state, say: () => {}, saveState: () => writeState(sys, r.names, r.state) });
    if (changed.via !== 'kernel') process.kill(supervisorPid(r.state)!, 'SIGUSR1');
  };
  const before = await readAdded(r.names);
  await writeAdded(r.names, added);
  try {
    await carry();
    if (changed.via !== 'kernel') await waitForwarder(r.names, changed, present, 15_000);
  } catch (e) {
    // Back to what was there: a publication that does not work is not left listed.
    await writeAdded(r.names, before);
    await carry().catch(() => {});
    throw e;
  }
}

async function add(args: Parsed, io: Io): Promise<number> {
  requireRoot('publish add');
  const entry = entryFromArgs(args.positional[1], args.opts.host, args.opts.via);
  if (args.positional.length > 2) throw new UsageError(`unexpected argument "${args.positional[2]}"; see \`vpnns publish --help\`.`);
  const sys = new System(false);
  const r = await running(args, sys);
  const lock = await acquireLock(r.names.lockFile, `publish on ${r.names.ns}`);
  try {
    const added = await readAdded(r.names);
    const pub = publication(entry, r.names, ADDED_ORIGIN);
    const key = formatHostPort(pub.listen);
    const taken = publications(withAdded(r.applied, added), r.names).find((p) => formatHostPort(p.listen) === key);
    if (taken) throw new UsageError(`${key} is already published (${taken.origin}, to ${formatHostPort(taken.target)}); remove it first or choose another host port.`);
    if (!(await canListen(pub.listen.host, pub.listen.port))) throw new UsageError(`port ${key} is already in use on the host; free it or choose another host port.`);
    for (const w of exposureWarnings([pub])) io.err(`WARNING: ${w}`);
    const how = pub.via === 'kernel' ? 'kernel DNAT' : 'forwarder';
    if (args.opts['dry-run'] === true) {
      io.out(`would publish ${key} -> ${formatHostPort(pub.target)} (${how}) until \`vpnns down\`; nothing changed (--dry-run).`);
      return 0;
    }
    await apply(sys, r, [...added, entry], pub, true);
    io.out(`published ${key} -> ${formatHostPort(pub.target)} (${how}) until \`vpnns down\`.`);
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
    key = formatHostPort(/^\d+$/.test(what) ? { host: '127.0.0.1', port: Number(what) } : parseHostPort(what));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}.`);
  }
  const sys = new System(false);
  const r = await running(args, sys);
  const lock = await acquireLock(r.names.lockFile, `publish on ${r.names.ns}`);
  try {
    const added = await readAdded(r.names);
    const i = added.findIndex((e) => formatHostPort(publication(e, r.names, ADDED_ORIGIN).listen) === key);
    if (i < 0) {
      const fromConfig = publications(r.applied, r.names).find((p) => formatHostPort(p.listen) === key);
      if (fromConfig) throw new UsageError(`${key} comes from the config (${fromConfig.origin}); remove it there and run \`sudo vpnns up\`.`);
      throw new UsageError(`${key} is not published; \`vpnns publish list\` shows what is.`);
    }
    const pub = publication(added[i]!, r.names, ADDED_ORIGIN);
    if (args.opts['dry-run'] === true) {
      io.out(`would remove ${key}; nothing changed (--dry-run).`);
      return 0;
    }
    await apply(sys, r, added.filter((_, j) => j !== i), pub, false);
    io.out(`removed ${key}.`);
    return 0;
  } finally {
    await lock.release();
  }
}

async function list(args: Parsed, io: Io): Promise<number> {
  const file = await configFrom(args);
  const names = namesFor(file);
  const state = await readState(names);
  const cfg = state ? withAdded(state.config, await readAdded(names)) : file;
  // status.json is world-readable; state.json (and so the added ports) only to root.
  const status = await readStatus(names);
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
