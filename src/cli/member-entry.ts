// The root side of a member's request, as an entry point (like main.ts): run by sudo as
// MEMBER_ENTRY (members/policy.ts), as root, for a member of group vpnns. members/entry.ts admits
// the request (who called, their environment, the command and arguments a member may give, the
// namespace's config); this loads the command, parses its arguments and runs it.
import { loadCommand, printError } from './main.js';
import { parseArgs } from './args.js';
import type { Command, Io } from './command.js';
import { admitMemberRequest } from '../members/entry.js';

export async function memberMain(argv: readonly string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    let cmd: Command | undefined;
    const { args, help } = await admitMemberRequest(argv, env, async (name, rest) => {
      cmd = (await loadCommand(name)) as Command;
      return cmd.parse ? cmd.parse(rest) : parseArgs(rest, cmd.options ?? {}, cmd.name);
    });
    if (help) {
      io.out(cmd!.usage);
      return 0;
    }
    return await cmd!.run(args, io);
  } catch (e) {
    return printError(e, io);
  }
}
