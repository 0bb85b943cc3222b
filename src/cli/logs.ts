// `vpnns logs`: the supervisor's log and a component's own output, filtered, pretty-printed or raw,
// and `-f` to follow them. Reading and following the files is core/log-reader.ts's.
import { configFrom, type Command } from './command.js';
import { UsageError } from '../errors.js';
import type { Level } from '../core/log.js';
import { LEVELS, anyLogExists, followLogsUntilSignal, isComponentName, logDirOfRunning, logSources, readLogs, type LogsOptions } from '../core/log-reader.js';

function parseLines(v: string | boolean | undefined, follow: boolean): number {
  if (v === undefined || v === true) return follow ? 20 : 200;
  if (v === 'all') return Infinity;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--lines expects a whole number or "all", got "${String(v)}".`);
  return n;
}

export const logsCommand: Command = {
  name: 'logs',
  dryRun: true,
  usage: `vpnns logs [-f] [COMPONENT] [--json] [-n N|all] [--level LEVEL] [--config FILE]

Shows what the supervisor did: connections, restarts, failed health checks and probes, one event a
line (time, level, component, message, details). With COMPONENT (vpn, socks, http, forward-8080,
supervisor...; "forward" matches every forward-*) only that component's events, followed by
the program's own output file (wireguard-go.log, openvpn.log, socks.log...).

  -f, --follow      keep printing new lines as they are written (through log rotation); Ctrl-C stops
      --json        the JSON lines as written (one object a line), for scripts and jq
  -n, --lines N     the last N lines of each file (default 200, or 20 with -f); "all" for everything
      --level L     only this level and above: debug, info, warn, error

Examples:
  vpnns logs vpn               the VPN client's connections and restarts
  vpnns logs -f --level warn   follow problems as they happen
  vpnns logs --json | jq 'select(.component=="socks")'`,
  options: { follow: { short: 'f' }, json: {}, lines: { value: true, short: 'n' }, level: { value: true }, namespace: { value: true } },
  async run(args, io) {
    if (args.positional.length > 1) throw new UsageError(`expected at most one COMPONENT, got ${args.positional.join(' ')}; e.g. \`vpnns logs vpn\`.`);
    const component = args.positional[0];
    if (component !== undefined && !isComponentName(component)) {
      throw new UsageError(`"${component}" is not a component name; use one that \`vpnns status\` lists, e.g. vpn or socks.`);
    }
    const level = args.opts.level;
    if (level !== undefined && !LEVELS.includes(level as Level)) throw new UsageError(`--level expects one of ${LEVELS.join(', ')}, got "${String(level)}".`);
    const follow = args.opts.follow === true;
    const o: LogsOptions = { component, level: level as Level | undefined, json: args.opts.json === true, lines: parseLines(args.opts.lines, follow) };

    const dir = await logDirOfRunning(await configFrom(args));
    const sources = logSources(dir, component);
    if (!follow) {
      const lines = readLogs(sources, o);
      for (const l of lines) io.out(l);
      if (!lines.length && !anyLogExists(sources)) io.err(`vpnns: no logs in ${dir} yet (is the namespace up? \`vpnns status\`).`);
      return 0;
    }
    await followLogsUntilSignal(sources, o, (l) => io.out(l));
    return 0;
  },
};
