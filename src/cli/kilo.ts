// `vpnns kilo [ARGS]`: Kilo CLI in the current directory, inside the namespace, as the user, with
// the terminal passed through; refused while the namespace is down or the VPN is not connected.
import { UsageError, VpnnsError } from '../errors.js';
import { namesFor } from '../core/names.js';
import { readState } from '../core/state.js';
import { netnsExists } from '../net/ip.js';
import { formatArgv } from '../sys/exec.js';
import { System } from '../sys/system.js';
import { kiloApp, kiloProgram } from '../services/kilo-program.js';
import { kiloArgv } from '../services/profiles/kilo.js';
import type { Parsed } from './args.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { assertTunnelUp } from '../report/tunnel.js';
import { execLaunch } from '../members/launch.js';
import { invokingUser, userExists } from './invoker.js';

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
    const state = await readState(namesFor(file));
    const cfg = state?.config ?? file;
    const ns = cfg.namespace;
    const sys = new System(dryRun);
    if (!state || !(await netnsExists(sys, ns))) {
      throw new VpnnsError(`namespace ${ns} is not up, so Kilo would not be confined; run \`sudo vpnns up\` first.`);
    }
    await assertTunnelUp(ns, sys, cfg.vpn.type);
    // The user asked for now, or written in the file; not the one `up` was run by.
    const app = kiloApp(file) ?? kiloApp(cfg);
    const who = typeof args.opts.user === 'string' ? { user: args.opts.user, source: '--user' } : kiloApp(file)?.user ? { user: kiloApp(file)!.user!, source: 'apps.kilo.user' } : invokingUser();
    if (!userExists(who.user)) throw new UsageError(`user "${who.user}" does not exist on this machine; pass an existing one with --user.`);
    if (who.user === 'root' && who.source === 'default') {
      io.err('vpnns: warning: running Kilo as root (no SUDO_USER and no --user); pass --user NAME to run it as a normal user.');
    }
    const program = await kiloProgram(sys, app, who.user);
    // The app's environment (e.g. provider settings) on top of the caller's, for Kilo only: never
    // in vpnns's own environment, where every root helper would inherit it (LD_PRELOAD, NODE_OPTIONS).
    // Kilo takes its working directory from $PWD, which sudo and other callers may leave stale.
    const extra = { ...(app?.env ?? {}), PWD: process.cwd() };
    const launch = execLaunch(file, ns, who.user, kiloArgv(program, args.rest), extra);
    if (dryRun) {
      // The environment goes on fd 3 after the drop: never printed (it may hold provider keys).
      io.out(`$ ${formatArgv(launch.argv)}`);
      io.out(`# Kilo would run as ${who.user} in namespace ${ns}; nothing ran (--dry-run).`);
      return 0;
    }
    return sys.foreground(launch, io);
  },
};
