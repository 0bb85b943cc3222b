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

/** The candidate a typo most likely meant, compared case-insensitively; undefined when none is close. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  // Short words are too easily "close" to anything.
  const allowed = w.length <= 3 ? 1 : w.length <= 6 ? 2 : 3;
  return bestDistance <= allowed ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = cur;
  }
  return prev[b.length]!;
}
