// Errors from reading VPN client configs and finding their servers. A VpnConfigError is a
// ConfigError, so the CLI reports it (and exits 2) like any other config mistake.

import { ConfigError } from '../config/errors.js';

export class VpnConfigError extends ConfigError {
  override name = 'VpnConfigError';

  /** `detail` is one sentence with the fix; the location prefix (`wg0.conf:7: `) is added here. */
  constructor(detail: string, where: { file?: string; line?: number; path?: string } = {}) {
    super({ file: where.file, line: where.line, path: where.path ?? '', detail });
  }
}

/** The VPN server's name did not resolve on the host: a failure at `up` time (exit 1), not a config mistake. */
export class VpnResolveError extends Error {
  override name = 'VpnResolveError';
  readonly exitCode = 1;
  readonly host: string;
  /** The resolver's code, e.g. ENOTFOUND, ETIMEOUT, ENODATA. */
  readonly code: string;

  constructor(message: string, host: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.host = host;
    this.code = code;
  }
}
