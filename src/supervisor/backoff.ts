// Restart delays: the first restart is immediate (recovery in seconds), then doubling to a cap.
// A component that stayed up for `resetAfterMs` starts again from zero. Nothing here grows with the
// number of restarts: the window of recent restarts is capped.

export interface BackoffOptions {
  firstMs: number;
  baseMs: number;
  maxMs: number;
  resetAfterMs: number;
  stormCount: number;
  stormWindowMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { firstMs: 0, baseMs: 1000, maxMs: 30_000, resetAfterMs: 60_000, stormCount: 10, stormWindowMs: 300_000 };

/** Failures in a row (without a run of resetAfterMs between them) from which a component is crash-looping. */
export const CRASH_LOOP_AFTER = 3;

const MAX_RECENT = 1000;

export class Backoff {
  private failures = 0;
  private lastStart = 0;
  private readonly recent: number[] = [];
  private readonly opts: BackoffOptions;

  constructor(opts: Partial<BackoffOptions> = {}) {
    this.opts = { ...DEFAULT_BACKOFF, ...opts };
  }

  started(now = Date.now()): void {
    this.lastStart = now;
  }

  /** Delay before the next start, after a failure at `now`. */
  next(now = Date.now()): number {
    if (this.lastStart && now - this.lastStart > this.opts.resetAfterMs) this.failures = 0;
    this.recent.push(now);
    while (this.recent.length && (now - this.recent[0]! > this.opts.stormWindowMs || this.recent.length > MAX_RECENT)) this.recent.shift();
    const n = this.failures++;
    if (n === 0) return this.opts.firstMs;
    return Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(n - 1, 30));
  }

  /** Too many restarts in the window: reported, not hidden. */
  get storm(): boolean {
    return this.recent.length >= this.opts.stormCount;
  }

  get restartsInWindow(): number {
    return this.recent.length;
  }

  /** Failures since it last stayed up for resetAfterMs. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  get crashLooping(): boolean {
    return this.failures >= CRASH_LOOP_AFTER;
  }
}
