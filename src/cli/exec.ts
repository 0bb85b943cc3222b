// `vpnns exec -- CMD`: its arguments, and the program run in the foreground; what runs how is
// members/exec.ts's.
import { UsageError } from '../errors.js';
import { execPlan } from '../members/exec.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { traceMark } from '../sys/trace.js';
import { System } from '../sys/system.js';

export const execCommand: Command = {
  name: 'exec',
  usage: `vpnns exec [--user USER] [--no-vpn-check] -- CMD [ARGS...]

Runs CMD inside the namespace as the invoking user (SUDO_USER under sudo, or --user), with that
user's groups, HOME/USER/LOGNAME, the rest of the environment, the working directory, the terminal,
and the namespace's resolv.conf. Returns CMD's exit code. Refuses while the VPN is not connected
unless --no-vpn-check is given.`,
  options: { user: { value: true, short: 'u' }, namespace: { value: true }, 'no-vpn-check': {} },
  async run(args, io) {
    requireRoot('exec');
    const cmd = args.rest.length ? args.rest : args.positional;
    if (!cmd.length) throw new UsageError('nothing to run; e.g. `vpnns exec -- curl https://example.com`.');
    traceMark('exec: command loaded');
    const text = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);
    const launch = await execPlan(
      { namespace: text(args.opts.namespace), configGiven: typeof args.opts.config === 'string', user: text(args.opts.user), vpnCheck: args.opts['no-vpn-check'] !== true, cmd },
      () => configFrom(args),
      (l) => io.err(l),
    );
    return new System(false).foreground(launch, io);
  },
};
