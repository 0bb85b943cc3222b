// Command-line options, read by Node's own parser (node:util parseArgs) and checked here, so every
// mistake is one sentence naming the command. parseArgs runs in its non-strict mode and we walk its
// tokens, because its strict mode cannot keep our behaviour and messages:
// - its errors are its own sentences ("Unknown option '--bogus'", "Option '--config' argument is
//   ambiguous. Did you forget...") that do not say which command, nor point to its --help;
// - it bundles short options (`-hv` is -h -v, `-cFILE` is -c FILE): we never did, so `-hv` stays
//   an unknown option rather than a guess;
// - strict mode refuses a value that starts with `-` (`--config -x`), which we always took as the value;
// - it reads `--=x` as an option named `=x`; we read the name up to the first `=`, as before.
// - `--` and everything after must come back apart (`rest`) for `exec`, not mixed into positionals.
import { parseArgs as nodeParseArgs } from 'node:util';
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
  const options = Object.fromEntries(
    Object.entries(all).map(([name, o]) => [name, { type: o.value ? ('string' as const) : ('boolean' as const), ...(o.short && { short: o.short }) }]),
  );
  const { tokens } = nodeParseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const unknown = (written: string) => new UsageError(`unknown option ${written} for \`vpnns ${command}\`; run \`vpnns ${command} --help\`.`);
  const opts: Parsed['opts'] = {};
  const positional: string[] = [];
  const rest: string[] = [];
  let afterTerminator = false;
  for (const t of tokens) {
    if (t.kind === 'option-terminator') {
      afterTerminator = true;
      continue;
    }
    if (t.kind === 'positional') {
      (afterTerminator ? rest : positional).push(t.value);
      continue;
    }
    const written = argv[t.index]!;
    const long = t.rawName.startsWith('--');
    // A short option is exactly `-x`: `-hv`, `-cFILE` and `-c=FILE` are one unknown word to us.
    if (!long && written !== t.rawName) throw unknown(written);
    // The name as written up to the first `=` (parseArgs reads `--=x` differently).
    const name = long ? written.slice(2).split('=', 1)[0]! : t.name;
    // Own properties only: `--toString` or `--__proto__` is not an option because every object has one.
    const o = Object.hasOwn(all, name) ? all[name] : undefined;
    if (!o) throw unknown(long ? `--${name}` : t.rawName);
    if (!o.value) {
      // `--no-vpn-check=no` must not turn the check off: a flag takes no value at all.
      if (t.inlineValue) throw new UsageError(`--${name} takes no value; write just --${name}.`);
      opts[name] = true;
      continue;
    }
    if (t.value === undefined) throw new UsageError(long ? `--${name} needs a value; e.g. \`vpnns ${command} --${name} VALUE\`.` : `${t.rawName} needs a value.`);
    opts[name] = t.value;
  }
  return { opts, positional, rest };
}
