// Errors a user can hit carry their exit code and a one-sentence message with the fix.
// Everything else is a bug and is reported with its stack.

export const EXIT = { ok: 0, failure: 1, usage: 2, leak: 3 } as const;

export class VpnnsError extends Error {
  readonly exitCode: number;
  constructor(message: string, opts: { exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VpnnsError';
    this.exitCode = opts.exitCode ?? EXIT.failure;
  }
}

/** Bad usage, bad config or a missing prerequisite: exit 2. */
export class UsageError extends VpnnsError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: EXIT.usage });
    this.name = 'UsageError';
  }
}

export function isUserError(e: unknown): e is { message: string; exitCode: number } {
  return e instanceof Error && typeof (e as { exitCode?: unknown }).exitCode === 'number';
}
