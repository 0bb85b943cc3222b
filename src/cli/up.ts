import { up } from '../plan/engine.js';
import { System } from '../sys/system.js';
import { requireTools } from '../sys/tools.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { runForeground } from '../plan/foreground.js';
import { invokingUser } from '../members/invoker.js';
import { upWarnings } from '../plan/warnings.js';

export const upCommand: Command = {
  name: 'up',
  dryRun: true,
  usage: `vpnns up [--config FILE] [--dry-run] [--foreground]

Creates the namespace and its veth pair, NAT on the host, the kill switch, DNS files, and starts the
VPN client, proxies and forwards under a supervisor that keeps running in the background. Running it
again changes nothing. --dry-run prints every command and file it would run or write.
--foreground keeps the supervisor in this process (for containers); Ctrl-C tears down.
--no-supervisor makes only the namespace, firewall and files (the systemd units run the rest).`,
  options: { foreground: {}, 'no-supervisor': {} },
  async run(args, io) {
    const dryRun = args.opts['dry-run'] === true;
    if (!dryRun) requireRoot('up');
    const cfg = await configFrom(args);
    await requireTools(['ip', 'nft']);
    // The apps' users are settled here too: whoever ran `sudo vpnns up`.
    for (const w of upWarnings(cfg, invokingUser())) io.err(`WARNING: ${w}`);
    const sys = new System(dryRun);
    const foreground = args.opts.foreground === true;
    const noSupervisor = args.opts['no-supervisor'] === true;
    const result = await up(cfg, { sys, say: (l) => !dryRun && io.out(l), foreground, noSupervisor });
    if (dryRun) {
      io.out(`# vpnns up --dry-run for namespace ${cfg.namespace}: nothing was changed.`);
      for (const a of sys.actions) io.out(a.trimEnd());
      if (!sys.actions.length) io.out('# everything is already in place; nothing to do.');
      return 0;
    }
    const n = result.ctx.names;
    if (!result.changed.length) io.out(`namespace ${n.ns} is already up; nothing changed.`);
    else io.out(`namespace ${n.ns} is up: host ${n.hostAddr} <-> namespace ${n.nsAddr} (${n.vethHost}).`);
    if (cfg.vpn.type === 'none') io.err('note: vpn.type is none: the namespace reaches the internet through the host, not a VPN.');
    if (foreground) return runForeground(result.ctx, (l) => io.out(l), (l) => io.err(l));
    return 0;
  },
};
