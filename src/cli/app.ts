// `vpnns app start|stop|status|logs|password|install`: the apps of a namespace that is up.
// Starting and stopping (by the supervisor, or by the app's systemd unit) is
// systemd/app-control.ts's; the status rows, the log and the password are report/apps.ts's.
import { UsageError } from '../errors.js';
import { System } from '../sys/system.js';
import { appUrl, profileOf } from '../services/apps.js';
import { CODE_SERVER_VERSION } from '../services/profiles/code-server.js';
import { installCodeServer } from '../services/profiles/code-server-install.js';
import { appLog, appPassword, appStatus } from '../report/apps.js';
import { appsOf, startApp, stopApp, type AppsOf } from '../systemd/app-control.js';
import { configFrom, requireRoot, type Command, type Io } from './command.js';

const USAGE = `vpnns app start NAME       start an app (apps.NAME) in the namespace
vpnns app stop NAME        stop it (it stays stopped until \`app start\` or the next \`vpnns up\`)
vpnns app status [NAME]    state, pid, restarts and address of the apps (--json for scripts)
vpnns app logs NAME        the app's output (-n LINES, default 100)
vpnns app password NAME    the password of a code-server app (made on first start, kept 0600)
vpnns app install code-server [--prefix DIR] [--no-link]
                           install code-server ${CODE_SERVER_VERSION} from npm (Node 20; builds native modules)

Apps run inside the namespace as their user (default: the user who ran \`sudo vpnns up\`). An app
with requireVpn (the default) does not start while the VPN is down; a VPN reconnect leaves it running.
--dry-run (start, stop, install) prints what would be done and changes nothing.`;

/** Under --dry-run: what the command would have done, and that nothing changed. */
function printDryRun(sys: System, io: Io, what: string[] = []): number {
  for (const a of sys.actions) io.out(a.trimEnd());
  for (const w of what) io.out(w);
  io.out('# nothing changed (--dry-run).');
  return 0;
}

async function start(l: AppsOf, name: string, io: Io, timeoutMs: number, dryRun = false): Promise<number> {
  const sys = new System(dryRun);
  const { app: a, service, result: r } = await startApp(l, name, timeoutMs, sys, (w) => io.err(`WARNING: ${w}`));
  if ('wouldAsk' in r) return printDryRun(sys, io, [`# would ask the supervisor (pid ${r.wouldAsk}) to start ${service}`]);
  if ('unit' in r) {
    if (dryRun) return printDryRun(sys, io);
    io.out(`${name}: started ${r.unit}.`);
    return 0;
  }
  const url = appUrl(name, a);
  const auth = profileOf(name, a) === 'code-server' && a.auth !== 'none' ? `; password: \`sudo vpnns app password ${name}\`` : '';
  io.out(`${name} is running as ${a.user ?? 'root'} (pid ${r.status?.pid ?? '?'})${url ? `: ${url}` : ''}${auth}.`);
  return 0;
}

async function stop(l: AppsOf, name: string, io: Io, timeoutMs: number, dryRun = false): Promise<number> {
  const sys = new System(dryRun);
  const r = await stopApp(l, name, timeoutMs, sys);
  if ('wouldAsk' in r) return printDryRun(sys, io, [`# would ask the supervisor (pid ${r.wouldAsk}) to stop ${r.service}`]);
  if (dryRun) return printDryRun(sys, io);
  io.out(r.unit ? `${name}: stopped ${r.unit}.` : `${name} is stopped.`);
  return 0;
}

async function status(l: AppsOf, name: string | undefined, json: boolean, io: Io): Promise<number> {
  const rows = await appStatus(l.cfg, l.names, name);
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

async function logs(l: AppsOf, name: string, lines: number, io: Io): Promise<number> {
  const log = await appLog(l.cfg, name, lines);
  if (!log.lines) {
    io.err(`${name} has no log yet (${log.file}); it has not been started.`);
    return 0;
  }
  for (const line of log.lines) io.out(line);
  return 0;
}

async function password(l: AppsOf, name: string, io: Io): Promise<number> {
  io.out(await appPassword(l.cfg, l.names, name));
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
        return start(await appsOf(await configFrom(args)), name!, io, timeoutMs, dryRun);
      case 'stop':
        if (!dryRun) requireRoot('app stop');
        return stop(await appsOf(await configFrom(args)), name!, io, timeoutMs, dryRun);
      case 'status':
        return status(await appsOf(await configFrom(args)), name, args.opts.json === true, io);
      case 'logs': {
        const n = Number(args.opts.lines ?? 100);
        if (!Number.isInteger(n) || n < 1) throw new UsageError('--lines takes a positive number, e.g. -n 50.');
        return logs(await appsOf(await configFrom(args)), name!, n, io);
      }
      case 'password':
        requireRoot('app password');
        return password(await appsOf(await configFrom(args)), name!, io);
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
