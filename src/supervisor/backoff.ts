// Restart delays: the first restart is immediate (recovery in seconds), then doubling to a cap.
// A component that stayed up for `resetAfterMs` starts again from zero.

export class Backoff {
  private failures = 0;
  private lastStart = 0;
  private readonly recent: number[] = [];

  constructor(
    private readonly opts = { firstMs: 0, baseMs: 1000, maxMs: 30_000, resetAfterMs: 60_000, stormCount: 10, stormWindowMs: 300_000 },
  ) {}

  started(now = Date.now()): void {
    this.lastStart = now;
  }

  /** Delay before the next start, after a failure at `now`. */
  next(now = Date.now()): number {
    if (this.lastStart && now - this.lastStart > this.opts.resetAfterMs) this.failures = 0;
    this.recent.push(now);
    while (this.recent.length && now - this.recent[0]! > this.opts.stormWindowMs) this.recent.shift();
    const n = this.failures++;
    if (n === 0) return this.opts.firstMs;
    return Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** (n - 1));
  }

  /** Too many restarts in the window: reported, not hidden. */
  get storm(): boolean {
    return this.recent.length >= this.opts.stormCount;
  }

  get restartsInWindow(): number {
    return this.recent.length;
  }
}
