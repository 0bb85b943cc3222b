// A small argument parser: commands have few options and we want exact messages, not a framework.
import { UsageError } from '../errors.js';

export interface OptionSpec {
  /** Takes a value (`--config FILE`) or is a flag (`--json`). */
  value?: boolean;
  short?: string;
}

export interface Parsed {
  opts: Record<string, string | boolean | undefined>;
  positional: string[];
  /** Everything after `--`. */
  rest: string[];
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  config: { value: true, short: 'c' },
  'dry-run': {},
  help: { short: 'h' },
  verbose: { short: 'v' },
};

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>, command: string): Parsed {
  const all = { ...GLOBAL_OPTIONS, ...spec };
  const opts: Parsed['opts'] = {};
  const positional: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      const o = Object.hasOwn(all, name) ? all[name] : undefined;
      if (!o) throw new UsageError(`unknown option --${name} for \`vpnns ${command}\`; run \`vpnns ${command} --help\`.`);
      if (!o.value && inline !== undefined) throw new UsageError(`--${name} takes no value; write just --${name}.`);
      if (o.value) {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new UsageError(`--${name} needs a value; e.g. \`vpnns ${command} --${name} VALUE\`.`);
        opts[name] = v;
      } else opts[name] = true;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      const entry = Object.entries(all).find(([, o]) => o.short === a.slice(1));
      if (!entry) throw new UsageError(`unknown option ${a} for \`vpnns ${command}\`; run \`vpnns ${command} --help\`.`);
      const [name, o] = entry;
      if (o.value) {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`${a} needs a value.`);
        opts[name] = v;
      } else opts[name] = true;
      continue;
    }
    positional.push(a);
  }
  return { opts, positional, rest };
}
