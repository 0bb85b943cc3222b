// `vpnns publish add|remove|list`: publish a namespace port on the host while the namespace runs,
// without editing the config or restarting anything else. Added ports last until `down`. Asking the
// supervisor is supervisor/publish-client.ts's; the list is report/publications.ts's.
import { UsageError } from '../errors.js';
import { entryFromArgs, publishedKey } from '../services/added-publications.js';
import { exposureWarnings } from '../services/publish.js';
import { requestPublish, requestUnpublish } from '../supervisor/publish-client.js';
import { listPublications } from '../report/publications.js';
import { configFrom, requireRoot, type Command, type Io } from './command.js';
import type { Parsed } from './args.js';

const USAGE = `vpnns publish add TARGET [--host ADDR:PORT] [--via forwarder|relay|kernel]
                           publish namespace port TARGET on the host (default 127.0.0.1:TARGET)
vpnns publish remove HOST  stop publishing it (HOST is ADDR:PORT, or PORT for 127.0.0.1:PORT)
vpnns publish list         every published port: from the config and added here (--json)

Ports added here last until \`vpnns down\`; to keep one, write it under \`publish:\` in the config.
A bind beyond loopback reaches other machines on the network and prints a warning.`;

async function add(args: Parsed, io: Io): Promise<number> {
  requireRoot('publish add');
  // Checked here for a sentence without a round trip, and again by the supervisor, which acts on it.
  const entry = entryFromArgs(args.positional[1], args.opts.host, args.opts.via);
  if (args.positional.length > 2) throw new UsageError(`unexpected argument "${args.positional[2]}"; see \`vpnns publish --help\`.`);
  const dryRun = args.opts['dry-run'] === true;
  const cfg = await configFrom(args);
  const { pub, answer: res } = await requestPublish(cfg, entry, dryRun);
  for (const w of exposureWarnings([pub])) io.err(`WARNING: ${w}`);
  if (dryRun) io.out(`would publish ${res.listen} -> ${res.target} (${res.how}) until \`vpnns down\`; nothing changed (--dry-run).`);
  else io.out(`published ${res.listen} -> ${res.target} (${res.how}) until \`vpnns down\`.`);
  return 0;
}

async function remove(args: Parsed, io: Io): Promise<number> {
  requireRoot('publish remove');
  const what = args.positional[1];
  if (!what) throw new UsageError('which one? e.g. `vpnns publish remove 127.0.0.1:9000` (or just the port for 127.0.0.1).');
  if (args.positional.length > 2) throw new UsageError(`unexpected argument "${args.positional[2]}"; see \`vpnns publish --help\`.`);
  const key = publishedKey(what);
  const dryRun = args.opts['dry-run'] === true;
  const cfg = await configFrom(args);
  await requestUnpublish(cfg, key, dryRun);
  io.out(dryRun ? `would remove ${key}; nothing changed (--dry-run).` : `removed ${key}.`);
  return 0;
}

async function list(args: Parsed, io: Io): Promise<number> {
  const { rows, addedHidden } = await listPublications(await configFrom(args));
  if (addedHidden) io.err('note: ports added with `vpnns publish add` are shown only to root: sudo vpnns publish list');
  if (args.opts.json === true) {
    io.out(JSON.stringify(rows, null, 2));
    return 0;
  }
  if (!rows.length) {
    io.out('nothing is published; add ports under `publish:` in the config, or `sudo vpnns publish add PORT`.');
    return 0;
  }
  const w = Math.max(6, ...rows.map((r) => r.listen.length));
  io.out(`${'HOST'.padEnd(w)}  ${'NAMESPACE'.padEnd(15)}  ${'VIA'.padEnd(9)}  ${'STATE'.padEnd(8)}  FROM`);
  for (const r of rows) io.out(`${r.listen.padEnd(w)}  ${r.target.padEnd(15)}  ${r.via.padEnd(9)}  ${r.state.padEnd(8)}  ${r.origin}`);
  return 0;
}

export const publishCommand: Command = {
  name: 'publish',
  dryRun: true,
  usage: USAGE,
  options: { namespace: { value: true }, host: { value: true }, via: { value: true }, json: {} },
  async run(args, io) {
    switch (args.positional[0]) {
      case 'add':
        return add(args, io);
      case 'remove':
        return remove(args, io);
      case 'list':
        return list(args, io);
      default:
        throw new UsageError(args.positional[0] ? `unknown publish command "${args.positional[0]}"; use add, remove or list.` : 'which publish command? add, remove or list; see `vpnns publish --help`.');
    }
  },
};
