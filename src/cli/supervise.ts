// The background supervisor that `up` starts (hidden command). It reads everything from the state
// file `up` wrote, so it runs exactly the config `up` applied.
import { UsageError } from '../errors.js';
import { namesFor, stateDirOf } from '../core/names.js';
import { readState } from '../core/state.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { requireRoot, type Command } from './command.js';
import { traceMark } from '../sys/trace.js';

export const superviseCommand: Command = {
  name: 'supervise',
  usage: 'vpnns supervise --namespace NS',
  hidden: true,
  options: { namespace: { value: true } },
  async run(args, io) {
    requireRoot('supervise');
    const ns = args.opts.namespace;
    if (typeof ns !== 'string') throw new UsageError('--namespace is required.');
    traceMark('supervise: command loaded');
    const state = await readState(stateDirOf(ns));
    if (!state) throw new UsageError(`namespace ${ns} is not up; run \`vpnns up\` first.`);
    const names = namesFor(state.config);
    const sup = new Supervisor(state.config, names, state);
    sup.exitOnCrash();
    const stop = () => void sup.stop().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {});
    try {
      await sup.run();
      return 0;
    } catch (e) {
      io.err(`vpnns supervise: ${(e as Error).message}`);
      await sup.stop();
      return 1;
    }
  },
};
