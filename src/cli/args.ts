// Command-line options, read and checked here, so every mistake is one sentence naming the
// command. The reading is ours, not node:util's parseArgs (which costs a module load on every
// command, `vpnns exec` included), and it keeps the rules we always had where parseArgs differs:
// - a short option is exactly `-x`: `-hv` and `-cFILE` are one unknown word, never bundled or guessed;
// - an option that takes a value takes the next word whatever it is (`--config -x`), as POSIX says;
// - `--name=value` reads the name up to the first `=` (`--=x` is the unknown option `--`);
// - `--` ends the options, and everything after it comes back apart (`rest`), for `exec`;
// - every error is ours and points to the command's --help.
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
  const byShort = new Map(Object.entries(all).flatMap(([name, o]) => (o.short ? [[`-${o.short}`, name] as [string, string]] : [])));
  const unknown = (written: string) => new UsageError(`unknown option ${written} for \`vpnns ${command}\`; run \`vpnns ${command} --help\`.`);
  const opts: Parsed['opts'] = {};
  const positional: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const written = argv[i]!;
    if (written === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!written.startsWith('-') || written === '-') {
      positional.push(written);
      continue;
    }
    const long = written.startsWith('--');
    const eq = long ? written.indexOf('=') : -1;
    // A short option is exactly `-x`: `-hv`, `-cFILE` and `-c=FILE` are one unknown word to us.
    const name = long ? written.slice(2, eq < 0 ? undefined : eq) : byShort.get(written);
    if (name === undefined) throw unknown(written);
    // Own properties only: `--toString` or `--__proto__` is not an option because every object has one.
    const o = Object.hasOwn(all, name) ? all[name] : undefined;
    if (!o) throw unknown(`--${name}`);
    if (!o.value) {
      // `--no-vpn-check=no` must not turn the check off: a flag takes no value at all.
      if (eq >= 0) throw new UsageError(`--${name} takes no value; write just --${name}.`);
      opts[name] = true;
      continue;
    }
    if (eq >= 0) {
      opts[name] = written.slice(eq + 1);
      continue;
    }
    if (i + 1 >= argv.length) throw new UsageError(long ? `--${name} needs a value; e.g. \`vpnns ${command} --${name} VALUE\`.` : `${written} needs a value.`);
    opts[name] = argv[++i]!;
  }
  return { opts, positional, rest };
}
