// How values are written into unit files and environment files so systemd reads back exactly the
// argv and strings we mean: it expands `%` specifiers everywhere, `$VAR` in command lines, and
// splits command lines on unquoted whitespace.

const PLAIN = /^[A-Za-z0-9_@+=:,./-]+$/;

function escapeInQuotes(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

/** One command-line word for Exec*= lines. */
export function execWord(arg: string): string {
  const s = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  // A lone ";" separates commands in older systemd; quoting keeps it an argument.
  if (PLAIN.test(s) && s !== ';') return s;
  return `"${escapeInQuotes(s)}"`;
}

/** An Exec*= value; the program must be an absolute path (systemd-analyze rejects others). */
export function execLine(argv: readonly string[], prefix = ''): string {
  const [prog] = argv;
  if (!prog || !prog.startsWith('/')) throw new Error(`systemd: the program must be an absolute path, got ${JSON.stringify(prog)} in ${JSON.stringify(argv)}`);
  if (/[\s"\\%$]/.test(prog)) throw new Error(`systemd: program path ${JSON.stringify(prog)} has characters a unit file cannot hold unquoted`);
  return prefix + argv.map(execWord).join(' ');
}

/** A path for path-list settings (BindReadOnlyPaths=, ReadWritePaths=, ...): spaces and specials are not allowed. */
export function unitPath(p: string): string {
  if (!p.startsWith('/') || /[\s"\\%$:]/.test(p)) throw new Error(`systemd: expected an absolute path without spaces, quotes, %, $ or ':', got ${JSON.stringify(p)}`);
  return p;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * An EnvironmentFile= body. Double-quoted values: systemd's env-file parser unescapes \" \\ \` \$
 * there and keeps everything else literally (no expansion), including newlines.
 */
export function envFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => {
      if (!ENV_NAME.test(k)) throw new Error(`systemd: invalid environment variable name ${JSON.stringify(k)}`);
      return `${k}="${v.replace(/[\\"`$]/g, (c) => `\\${c}`)}"\n`;
    })
    .join('');
}

export type Entry = readonly [key: string, value: string | number | boolean | undefined];

/** `[Title]` then `Key=Value` lines; undefined values are left out. */
export function section(title: string, entries: readonly Entry[]): string {
  const lines = [`[${title}]`];
  for (const [k, v] of entries) {
    if (v === undefined) continue;
    lines.push(`${k}=${typeof v === 'boolean' ? (v ? 'yes' : 'no') : v}`);
  }
  return lines.join('\n') + '\n';
}
