// `vpnns app start|stop|status|logs|password|install`: the apps of a namespace that is up.
// start/stop ask the supervisor on its control socket, which starts or stops that one service and
// answers once it runs (or has stopped); under systemd they start or stop the app's unit.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { AppConfig, Config } from '../config/types.js';
import { UsageError, VpnnsError } from '../errors.js';
import { namesFor, type Names } from '../core/names.js';
import { readState, type State } from '../core/state.js';
import { netnsExists } from '../net/ip.js';
import { logDirFor } from '../core/log.js';
import { isOurSupervisor, supervisorPid, supervisorStart } from '../supervisor/resource.js';
import { readStatus, type ComponentStatus } from '../core/status.js';
import { ask } from '../supervisor/control-client.js';
import { MAX_WAIT_MS } from '../supervisor/control-protocol.js';
import { System } from '../sys/system.js';
import { appDir, appServiceName, appSpec, appUrl, appWarnings, isInteractive, profileOf } from '../services/apps.js';
import { ensurePassword, passwordPath } from '../services/profiles/code-server.js';
import { installCodeServer } from '../services/profiles/code-server-install.js';
import { unitNames } from '../systemd/units.js';
import { DEFAULT_UNIT_DIR } from '../systemd/install.js';
import { assertTunnelUp } from './exec.js';
import { configFrom, requireRoot, type Command, type Io } from './command.js';
import type { Parsed } from './args.js';

const USAGE = `vpnns app start NAME       start an app (apps.NAME) in the namespace
vpnns app stop NAME        stop it (it stays stopped until \`app start\` or the next \`vpnns up\`)
vpnns app status [NAME]    state, pid, restarts and address of the apps (--json for scripts)
vpnns app logs NAME        the app's output (-n LINES, default 100)
vpnns app password NAME    the password of a code-server app (made on first start, kept 0600)
vpnns app install code-server [--prefix DIR] [--no-link]
                           install code-server ${'4.100.3'} from npm (Node 20; builds native modules)
--dry-run (start, stop, install) prints what would be done and changes nothing.

Apps run inside the namespace as their user (default: the user who ran \`sudo vpnns up\`). An app
with requireVpn (the default) does not start while the VPN is down; a VPN reconnect leaves it running.`;

interface Loaded {
  cfg: Config;
  names: Names;
  state: State | undefined;
}

async function load(args: Parsed): Promise<Loaded> {
  const file = await configFrom(args);
  const state = await readState(namesFor(file));
  const cfg = state?.config ?? file;
  return { cfg, names: namesFor(cfg), state };
}

function appOf(cfg: Config, name: string | undefined): AppConfig {
  if (!name) throw new UsageError('which app? e.g. `vpnns app start code-server`.');
  const a = cfg.apps[name];
  if (!a) {
    const known = Object.keys(cfg.apps);
    throw new UsageError(`there is no app "${name}" in the config; ${known.length ? `it has: ${known.join(', ')}` : 'add it under `apps:`'}.`);
  }
  return a;
}

async function requireUp(l: Loaded, sys: System): Promise<State> {
  if (!l.state || !(await netnsExists(sys, l.names.ns))) throw new VpnnsError(`namespace ${l.names.ns} is not up; run \`sudo vpnns up\` first.`);
  return l.state;
}

/** The live supervisor's PID, or the systemd unit that runs the app instead. */
async function controller(l: Loaded, state: State, service: string): Promise<{ pid: number } | { unit: string }> {
  // Answers on the control socket come from the supervisor; this is only which way to go.
  const pid = supervisorPid(state);
  if (await isOurSupervisor(pid, l.names.ns, supervisorStart(state))) return { pid: pid! };
  const unit = unitNames.service(l.names.ns, service);
  if (existsSync(`${DEFAULT_UNIT_DIR}/${unit}`) && existsSync('/run/systemd/system')) return { unit };
  throw new VpnnsError(`the vpnns supervisor of namespace ${l.names.ns} is not running; run \`sudo vpnns up\` again to restart it.`);
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** Under --dry-run: what the command would have done, and that nothing changed. */
function printDryRun(sys: System, io: Io, what: string[] = []): number {
  for (const a of sys.actions) io.out(a.trimEnd());
  for (const w of what) io.out(w);
  io.out('# nothing changed (--dry-run).');
  return 0;
}

async function start(l: Loaded, name: string, io: Io, timeoutMs: number, dryRun = false): Promise<number> {
  const sys = new System(dryRun);
  const a = appOf(l.cfg, name);
  if (isInteractive(name, a)) throw new UsageError(`apps.${name} is interactive (Kilo CLI); run it in your terminal with \`vpnns kilo\`.`);
  const spec = appSpec(l.cfg, l.names, name);
  if (!spec) throw new UsageError(`apps.${name} has nothing to run; add \`command: [PROGRAM, ARGS...]\` to it.`);
  const state = await requireUp(l, sys);
  if (spec.needsTunnel) await assertTunnelUp(l.names.ns, sys, l.cfg.vpn.type);
  for (const w of appWarnings({ ...l.cfg, apps: { [name]: a } })) io.err(`WARNING: ${w}`);
  const ctl = await controller(l, state, spec.name);
  if ('unit' in ctl) {
    await sys.change(['systemctl', 'start', ctl.unit], { timeoutMs });
    if (dryRun) return printDryRun(sys, io);
    io.out(`${name}: started ${ctl.unit}.`);
    return 0;
  }
  if (dryRun) return printDryRun(sys, io, [`# would ask the supervisor (pid ${ctl.pid}) to start ${spec.name}`]);
  const deadline = Date.now() + timeoutMs;
  let c = await ask<ComponentStatus>(l.names, 'app.start', { service: spec.name, waitMs: Math.min(timeoutMs, MAX_WAIT_MS) });
  // Running is not yet listening: the app's port answers when the command returns.
  while (a.port !== undefined && !(await canConnect(l.names.nsAddr, a.port))) {
    if (Date.now() > deadline) throw new VpnnsError(`${name} is running but its port ${a.port} does not answer after ${Math.round(timeoutMs / 1000)} s; see \`vpnns app logs ${name}\`.`);
    await new Promise((r) => setTimeout(r, 200));
  }
  c = (await ask<{ components: Record<string, ComponentStatus> }>(l.names, 'status')).components[spec.name] ?? c;
  const url = appUrl(name, a);
  const auth = profileOf(name, a) === 'code-server' && a.auth !== 'none' ? `; password: \`sudo vpnns app password ${name}\`` : '';
  io.out(`${name} is running as ${a.user ?? 'root'} (pid ${c?.pid ?? '?'})${url ? `: ${url}` : ''}${auth}.`);
  return 0;
}

async function stop(l: Loaded, name: string, io: Io, timeoutMs: number, dryRun = false): Promise<number> {
  const sys = new System(dryRun);
  const a = appOf(l.cfg, name);
  if (isInteractive(name, a)) throw new UsageError(`apps.${name} is interactive (Kilo CLI); it runs only while \`vpnns kilo\` does.`);
  const service = appServiceName(name);
  const state = await requireUp(l, sys);
  const ctl = await controller(l, state, service);
  if ('unit' in ctl) {
    await sys.change(['systemctl', 'stop', ctl.unit], { timeoutMs });
    if (dryRun) return printDryRun(sys, io);
    io.out(`${name}: stopped ${ctl.unit}.`);
    return 0;
  }
  if (dryRun) return printDryRun(sys, io, [`# would ask the supervisor (pid ${ctl.pid}) to stop ${service}`]);
  await ask(l.names, 'app.stop', { service, waitMs: Math.min(timeoutMs, MAX_WAIT_MS) });
  io.out(`${name} is stopped.`);
  return 0;
}

export interface AppStatusRow {
  name: string;
  profile?: string;
  user?: string;
  state: string;
  pid?: number;
  since?: string;
  restarts: number;
  lastError?: string;
  /** How it last ended (null: a signal), when it has died before. */
  lastExitCode?: number | null;
  crashLooping?: boolean;
  url?: string;
  autostart: boolean;
  requireVpn: boolean;
}

export function appStatusRows(cfg: Config, components: Record<string, ComponentStatus>): AppStatusRow[] {
  return Object.entries(cfg.apps).map(([name, a]) => {
    const c = components[appServiceName(name)];
    const interactive = isInteractive(name, a);
    return {
      name,
      profile: profileOf(name, a),
      user: a.user,
      state: interactive ? 'interactive' : c?.crashLooping && c.state !== 'stopped' ? 'crash-looping' : (c?.state ?? 'stopped'),
      pid: c?.pid,
      since: c?.since,
      restarts: c?.restarts ?? 0,
      lastError: c?.lastError,
      ...(c?.lastExitCode !== undefined && { lastExitCode: c.lastExitCode }),
      ...(c?.crashLooping && { crashLooping: true }),
      url: appUrl(name, a),
      autostart: a.autostart,
      requireVpn: a.requireVpn,
    };
  });
}

async function status(l: Loaded, name: string | undefined, json: boolean, io: Io): Promise<number> {
  const st = await readStatus(l.names);
  let rows = appStatusRows(l.cfg, st?.components ?? {});
  if (name) {
    appOf(l.cfg, name);
    rows = rows.filter((r) => r.name === name);
  }
  if (json) {
    io.out(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (!rows.length) {
    io.out('no apps in the config; add them under `apps:`.');
    return 0;
  }
  const table = [['APP', 'STATE', 'PID', 'USER', 'RESTARTS', 'ADDRESS'], ...rows.map((r) => [r.name, r.state, r.pid ? String(r.pid) : '-', r.user ?? '-', String(r.restarts), r.url ?? (r.state === 'interactive' ? 'vpnns kilo' : '-')])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) io.out(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  for (const r of rows) {
    if (r.lastError && r.state !== 'running') io.out(`${r.name}: last error: ${r.lastError}${r.lastExitCode !== undefined && r.lastExitCode !== null ? ` (exit code ${r.lastExitCode})` : ''}`);
    if (r.crashLooping) io.out(`${r.name}: crash-looping: restarted ${r.restarts} times, each time with a longer wait (up to 30 s); see \`vpnns app logs ${r.name}\`.`);
  }
  return 0;
}

async function logs(l: Loaded, name: string, lines: number, io: Io): Promise<number> {
  appOf(l.cfg, name);
  const file = `${logDirFor(l.cfg)}/${appServiceName(name)}.log`;
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw new VpnnsError(`cannot read ${file} (${e.code ?? e.message}); run with sudo.`);
  });
  if (text === undefined) {
    io.err(`${name} has no log yet (${file}); it has not been started.`);
    return 0;
  }
  const all = text.split('\n');
  if (all[all.length - 1] === '') all.pop();
  for (const line of all.slice(-lines)) io.out(line);
  return 0;
}

async function password(l: Loaded, name: string, io: Io): Promise<number> {
  const a = appOf(l.cfg, name);
  if (profileOf(name, a) !== 'code-server') throw new UsageError(`apps.${name} is not a code-server app; only code-server has a password.`);
  if (a.auth === 'none') throw new UsageError(`apps.${name} has auth: none: it has no password (and anyone on this machine can open it).`);
  // The same file the app's start reads; made now if the app has never started.
  io.out(await ensurePassword(new System(false), passwordPath(appDir(l.names.ns, name))));
  return 0;
}

export const appCommand: Command = {
  name: 'app',
  usage: USAGE,
  dryRun: true,
  options: { namespace: { value: true }, json: {}, lines: { value: true, short: 'n' }, timeout: { value: true }, prefix: { value: true }, 'no-link': {} },
  async run(args, io) {
    const [verb, name, ...extra] = args.positional;
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"; see \`vpnns app --help\`.`);
    const timeoutMs = Number(args.opts.timeout ?? 60) * 1000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError('--timeout takes a number of seconds, e.g. --timeout 30.');
    const dryRun = args.opts['dry-run'] === true;
    // status and logs change nothing anyway; password would make one.
    if (dryRun && verb === 'password') throw new UsageError('`vpnns app password` has no --dry-run (it makes the password on first use); leave --dry-run out to run it.');
    switch (verb) {
      case 'start':
        if (!dryRun) requireRoot('app start');
        return start(await load(args), name!, io, timeoutMs, dryRun);
      case 'stop':
        if (!dryRun) requireRoot('app stop');
        return stop(await load(args), name!, io, timeoutMs, dryRun);
      case 'status':
        return status(await load(args), name, args.opts.json === true, io);
      case 'logs': {
        const n = Number(args.opts.lines ?? 100);
        if (!Number.isInteger(n) || n < 1) throw new UsageError('--lines takes a positive number, e.g. -n 50.');
        return logs(await load(args), name!, n, io);
      }
      case 'password':
        requireRoot('app password');
        return password(await load(args), name!, io);
      case 'install': {
        if (name !== 'code-server') throw new UsageError('only code-server can be installed this way: `vpnns app install code-server`.');
        if (!dryRun) requireRoot('app install code-server');
        const prefix = typeof args.opts.prefix === 'string' ? args.opts.prefix : undefined;
        if (prefix !== undefined && !prefix.startsWith('/')) throw new UsageError('--prefix takes an absolute path.');
        const sys = new System(dryRun);
        const bin = await installCodeServer(sys, { prefix, linkDir: args.opts['no-link'] === true ? null : undefined }, (l) => io.out(l));
        if (dryRun) return printDryRun(sys, io, [`# code-server would be ${bin}`]);
        io.out(bin);
        return 0;
      }
      default:
        throw new UsageError(verb ? `unknown app command "${verb}"; use start, stop, status, logs, password or install.` : 'which app command? e.g. `vpnns app status`; see `vpnns app --help`.');
    }
  },
};
