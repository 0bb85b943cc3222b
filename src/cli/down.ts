import { down } from '../plan/engine.js';
import { System } from '../sys/system.js';
import { requireTools } from '../sys/tools.js';
import { stateDirOf } from '../core/names.js';
import { configFrom, requireRoot, type Command } from './command.js';

export const downCommand: Command = {
  name: 'down',
  dryRun: true,
  usage: `vpnns down [--config FILE] [--dry-run]

Stops the supervisor, the VPN client and services, and removes the namespace, veth pair, firewall
tables, DNS files and state — also what a crashed \`up\` left half-made. Only what vpnns recorded
making: a namespace of the same name made by someone else is left alone.`,
  async run(args, io) {
    const dryRun = args.opts['dry-run'] === true;
    if (!dryRun) requireRoot('down');
    const cfg = await configFrom(args);
    await requireTools(['ip', 'nft']);
    const sys = new System(dryRun);
    const { removed, notOurs } = await down(cfg, { sys, say: (l) => !dryRun && io.out(l) });
    if (dryRun) for (const a of sys.actions) io.out(a.trimEnd());
    if (notOurs) io.out(`namespace ${cfg.namespace} was not made by vpnns (no record of it in ${stateDirOf(cfg.namespace).stateDir}); down leaves it alone.`);
    else if (!removed.length) io.out(`namespace ${cfg.namespace} is not up; nothing to do.`);
    else if (!dryRun) io.out(`namespace ${cfg.namespace} is down.`);
    return 0;
  },
};
