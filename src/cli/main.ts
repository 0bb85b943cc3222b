// vpnns command line: find the command, parse its options, print errors as one sentence.
import { createRequire } from 'node:module';
import { parseArgs } from './args.js';
import type { Command, Io } from './command.js';
import { isUserError, EXIT, UsageError } from '../errors.js';
import { assertNamespaceName } from '../config/namespace-name.js';
import { enableTrace } from '../sys/trace.js';
/**
 * Commands are loaded only when run: `vpnns exec` should not pay for parsing the check, systemd and
 * demo code on every call (startup time is most of its cost).
 */
interface Entry {
  name: string;
  summary: string;
  hidden?: boolean;
  load(): Promise<Command>;
}

const COMMANDS: Entry[] = [
  { name: 'up', summary: 'create the namespace, start the VPN and everything that hangs off it', load: async () => (await import('./up.js')).upCommand },
  { name: 'down', summary: 'stop everything and remove every trace of the namespace', load: async () => (await import('./down.js')).downCommand },
  { name: 'status', summary: 'show what exists: namespace, addresses, DNS, firewall, VPN, components', load: async () => (await import('./status.js')).statusCommand },
  { name: 'list', summary: 'every namespace vpnns runs here: state, VPN, egress, apps, published ports (no root needed)', load: async () => (await import('./list.js')).listCommand },
  { name: 'logs', summary: 'show the supervisor\'s log (and a component\'s own output); -f follows', load: async () => (await import('./logs.js')).logsCommand },
  { name: 'check', summary: 'prove the traffic, DNS included, goes through the VPN (exit 3 on a leak)', load: async () => (await import('./check.js')).checkCommand },
  { name: 'exec', summary: 'run a program inside the namespace as you', load: async () => (await import('./exec.js')).execCommand },
  { name: 'app', summary: 'start, stop, inspect and install the apps that run in the namespace', load: async () => (await import('./app.js')).appCommand },
  { name: 'publish', summary: 'publish a namespace port on the host while it runs (add, remove, list)', load: async () => (await import('./publish.js')).publishCommand },
  { name: 'kilo', summary: 'run Kilo CLI here, inside the namespace, as you (refused while the VPN is down)', load: async () => (await import('./kilo.js')).kiloCommand },
  { name: 'browser', summary: 'open an app (code-server) in a browser that runs inside the namespace, so its browser half is confined too', load: async () => (await import('./browser.js')).browserCommand },
  { name: 'doctor', summary: 'check that every program the config needs is installed, and say how to install what is not', load: async () => (await import('./doctor.js')).doctorCommand },
  { name: 'adguard', summary: 'run an adguardvpn-cli subcommand with vpnns\'s data directory (login once)', load: async () => (await import('./adguard.js')).adguardCommand },
  { name: 'setup', summary: 'let a user run exec, kilo, app, status and check without sudo (group vpnns; --remove undoes it)', load: async () => (await import('./setup.js')).setupCommand },
  { name: 'systemd', summary: 'render or install systemd units that run the namespace at boot', load: async () => (await import('./systemd.js')).systemdCommand },
  { name: 'demo', summary: 'show vpnns working against a simulated internet, then remove it all (~20 s)', load: async () => (await import('./demo.js')).demoCommand },
  { name: 'supervise', summary: 'run the supervisor for a namespace (started by `up`)', hidden: true, load: async () => (await import('./supervise.js')).superviseCommand },
  { name: 'run', summary: 'run one part of a namespace in the foreground (used by the systemd units)', hidden: true, load: async () => (await import('./run.js')).runCommand },
];

/** The command called `name` (for the members' root entry, which runs a fixed few of them). */
export async function loadCommand(name: string): Promise<Command | undefined> {
  return COMMANDS.find((c) => c.name === name)?.load();
}

function help(): string {
  const rows = COMMANDS.filter((c) => !c.hidden).map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return `vpnns — confine chosen programs to a network namespace whose only way out is a VPN

Usage: vpnns COMMAND [OPTIONS]

Commands:
${rows.join('\n')}

Options for every command:
  -c, --config FILE   config file (default /etc/vpnns/config.yaml, else ./vpnns.yaml, else defaults)
      --dry-run       print what would be done, change nothing
  -h, --help          help for a command
Before the command: --trace-timing prints how long each step takes on stderr (vpnns-trace lines).

Exit codes: 0 ok, 1 failure, 2 bad usage or config, 3 a check found a leak.`;
}

export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  // Before the command, so it reaches every command alike (and `up` hands it to its supervisor).
  if (argv[0] === '--trace-timing') {
    enableTrace();
    argv = argv.slice(1);
  }
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const target = rest[0] ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    io.out(target ? (await target.load()).usage : help());
    return 0;
  }
  if (name === '--version' || name === 'version') {
    io.out((createRequire(import.meta.url)('../../../package.json') as { version: string }).version);
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  // A member of group vpnns (not root): the member commands go to the root entry through sudo.
  if (entry && typeof process.getuid === 'function' && process.getuid() !== 0) {
    const { shouldDelegate, delegate } = await import('../members/delegate.js');
    if (shouldDelegate(argv)) return delegate(argv, io);
  }
  if (!entry) {
    io.err(`vpnns: unknown command "${name}"; run \`vpnns help\` to see the commands.`);
    return EXIT.usage;
  }
  try {
    const cmd = await entry.load();
    const args = cmd.parse ? cmd.parse(rest) : parseArgs(rest, cmd.options ?? {}, cmd.name);
    if (args.opts.help) {
      io.out(cmd.usage);
      return 0;
    }
    // One rule for every command's --namespace, before any of them builds a path from it.
    if (typeof args.opts.namespace === 'string') assertNamespaceName(args.opts.namespace);
    if (args.opts['dry-run'] === true && !cmd.dryRun) {
      throw new UsageError(`\`vpnns ${name}\` has no --dry-run and would act for real; leave --dry-run out to run it.`);
    }
    return await cmd.run(args, io);
  } catch (e) {
    return printError(e, io);
  }
}

/** A user's error as its one sentence and exit code; anything else is a bug, printed with its stack. */
export function printError(e: unknown, io: Pick<Io, 'err'>): number {
  if (isUserError(e)) {
    io.err(`vpnns: ${e.message}`);
    return e.exitCode;
  }
  io.err(`vpnns: internal error: ${(e as Error).stack ?? String(e)}`);
  return EXIT.failure;
}

function defaultIo(): Io {
  return {
    out: (l = '') => process.stdout.write(l + '\n'),
    err: (l) => process.stderr.write(l + '\n'),
    // Asked only when a command wants it: process.stdout is made on first use (a stream over the
    // pipe or terminal, several ms), and `exec` on success writes nothing.
    get isTTY() {
      return process.stdout.isTTY === true;
    },
  };
}

/** For scripts/bundle.mjs, at build time: config/load.ts warmUp (the bundle's code cache then holds the parser compiled). */
export async function warmUp(): Promise<void> {
  (await import('../config/load.js')).warmUp();
}
