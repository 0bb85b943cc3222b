// The background supervisor that `up` starts (hidden command); supervisor/background.ts runs it.
import { UsageError } from '../errors.js';
import { superviseInBackground } from '../supervisor/background.js';
import { requireRoot, type Command } from './command.js';

export const superviseCommand: Command = {
  name: 'supervise',
  usage: 'vpnns supervise --namespace NS [--await-go]',
  hidden: true,
  options: { namespace: { value: true }, 'await-go': {} },
  async run(args, io) {
    requireRoot('supervise');
    const ns = args.opts.namespace;
    if (typeof ns !== 'string') throw new UsageError('--namespace is required.');
    return superviseInBackground(ns, { awaitGo: args.opts['await-go'] === true }, (l) => io.err(l));
  },
};
