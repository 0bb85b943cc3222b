// A config mistake the user can fix: where it is (file, line, key path) and what would be right.

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** Exit code for bad usage or config (see DESIGN.md). */
  readonly exitCode = 2;
  readonly file?: string;
  readonly line?: number;
  /** Dotted key path, e.g. `network.subnet` or `apps.web.publish[0].port`; empty for file-level problems. */
  readonly path: string;
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(opts: { file?: string; line?: number; path: string; detail: string }) {
    super(formatMessage(opts));
    this.file = opts.file;
    this.line = opts.line;
    this.path = opts.path;
    this.detail = opts.detail;
  }
}

/** `vpnns.yaml:3: network.subnet: expected …; use ….` — one sentence, ending in a period unless it asks a question. */
function formatMessage(o: { file?: string; line?: number; path: string; detail: string }): string {
  const where = o.file !== undefined ? (o.line !== undefined ? `${o.file}:${o.line}` : o.file) : o.line !== undefined ? `line ${o.line}` : '';
  const text = /[.?]$/.test(o.detail) ? o.detail : `${o.detail}.`;
  return [where, o.path, text].filter((part) => part !== '').join(': ');
}
