// `vpnns kilo [ARGS]`: Kilo CLI in the current directory, inside the namespace, as the user, with
// the terminal passed through; refused while the namespace is down or the VPN is not connected.
// Which Kilo, as whom and how is members/kilo.ts's; here its arguments and what is printed.
import { UsageError } from '../errors.js';
import { formatArgv } from '../sys/exec.js';
import { kiloLaunch } from '../members/kilo.js';
import type { Parsed } from './args.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { System } from '../sys/system.js';

/**
 * vpnns's own options come first; everything from the first other argument on (or after `--`) is
 * Kilo's, so `vpnns kilo run --format json "..."` needs no `--`.
 */
export function parseKiloArgs(argv: readonly string[]): Parsed {
  const opts: Parsed['opts'] = {};
  const withValue: Record<string, string> = { '-c': 'config', '--config': 'config', '--namespace': 'namespace', '-u': 'user', '--user': 'user' };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    const [flag, inline] = a.startsWith('--') ? (a.split(/=(.*)/s, 2) as [string, string | undefined]) : [a, undefined];
    const key = withValue[flag];
    if (key) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value; e.g. \`vpnns kilo ${flag} VALUE\`.`);
      opts[key] = v;
      continue;
    }
    if (a === '--dry-run') {
      opts['dry-run'] = true;
      continue;
    }
    if (i === 0 && (a === '-h' || a === '--help')) {
      opts.help = true;
      continue;
    }
    break;
  }
  return { opts, positional: [], rest: argv.slice(i) };
}

export const kiloCommand: Command = {
  name: 'kilo',
  usage: `vpnns kilo [--user USER] [--config FILE] [--dry-run] [ARGS...]

Runs Kilo CLI (\`kilocode\`, else \`kilo\`; or apps.kilo.command) in the current directory inside the
namespace, as the invoking user (SUDO_USER under sudo, --user, or apps.kilo.user), with the terminal
passed through. Everything after vpnns's own options goes to Kilo: \`sudo vpnns kilo run "fix the tests"\`;
use \`vpnns kilo -- --help\` for Kilo's help. Refuses (exit 1) while the namespace is down or the VPN
is not connected, so Kilo never talks to its provider from your real address. --dry-run prints the
command line that would run (the same checks first) and runs nothing.`,
  dryRun: true,
  parse: parseKiloArgs,
  async run(args, io) {
    const dryRun = args.opts['dry-run'] === true;
    if (!dryRun) requireRoot('kilo');
    const file = await configFrom(args);
    const user = typeof args.opts.user === 'string' ? args.opts.user : undefined;
    const { launch, user: who, ns } = await kiloLaunch(file, { user, dryRun, args: args.rest }, (l) => io.err(l));
    if (dryRun) {
      // The environment goes on fd 3 after the drop: never printed (it may hold provider keys).
      io.out(`$ ${formatArgv(launch.argv)}`);
      io.out(`# Kilo would run as ${who} in namespace ${ns}; nothing ran (--dry-run).`);
      return 0;
    }
    return new System(false).foreground(launch, io);
  },
};
