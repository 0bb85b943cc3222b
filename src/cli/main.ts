// vpnns command line: find the command, parse its options, print errors as one sentence.
import { parseArgs } from './args.js';
import type { Command, Io } from './command.js';
import { isUserError, EXIT } from '../errors.js';
import { upCommand } from './up.js';
import { downCommand } from './down.js';
import { statusCommand } from './status.js';
import { execCommand } from './exec.js';
import { superviseCommand } from './supervise.js';
import { adguardCommand } from './adguard.js';
import { checkCommand } from './check.js';
import { systemdCommand } from './systemd.js';
import { runCommand } from './run.js';
import { logsCommand } from './logs.js';
import { demoCommand } from './demo.js';
import { appCommand } from './app.js';
import { kiloCommand } from './kilo.js';
import { doctorCommand } from './doctor.js';

const COMMANDS: Command[] = [upCommand, downCommand, statusCommand, logsCommand, checkCommand, execCommand, appCommand, kiloCommand, doctorCommand, adguardCommand, superviseCommand, systemdCommand, runCommand, demoCommand];

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

Exit codes: 0 ok, 1 failure, 2 bad usage or config, 3 a check found a leak.`;
}

export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const target = rest[0] && COMMANDS.find((c) => c.name === rest[0]);
    io.out(target ? target.usage : help());
    return 0;
  }
  if (name === '--version' || name === 'version') {
    const { createRequire } = await import('node:module');
    io.out((createRequire(import.meta.url)('../../../package.json') as { version: string }).version);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.err(`vpnns: unknown command "${name}"; run \`vpnns help\` to see the commands.`);
    return EXIT.usage;
  }
  try {
    const args = cmd.parse ? cmd.parse(rest) : parseArgs(rest, cmd.options ?? {}, cmd.name);
    if (args.opts.help) {
      io.out(cmd.usage);
      return 0;
    }
    return await cmd.run(args, io);
  } catch (e) {
    if (isUserError(e)) {
      io.err(`vpnns: ${e.message}`);
      return e.exitCode;
    }
    io.err(`vpnns: internal error: ${(e as Error).stack ?? String(e)}`);
    return EXIT.failure;
  }
}

function defaultIo(): Io {
  return {
    out: (l = '') => process.stdout.write(l + '\n'),
    err: (l) => process.stderr.write(l + '\n'),
    isTTY: process.stdout.isTTY === true,
  };
}
