// Timing spans for `vpnns --trace-timing COMMAND` (and the supervisor `up` starts with it): one
// line per step on stderr, `vpnns-trace {"t":..,"ms":..,"pid":..,"what":".."}`, `t` the step's
// end in milliseconds since the epoch (so lines of `up` and its supervisor merge on one clock),
// `ms` its duration. bench/up.ts reads them to say where the time of `up` goes. Off unless asked:
// a flag on the command line, never the environment (no setting of vpnns's comes from there).
// Node's `performance` is touched only when tracing: its first use loads perf_hooks (a dozen
// internal modules, ~1.5 ms of every command otherwise).

let enabled = false;

export function enableTrace(): void {
  enabled = true;
  // Node's own start-up, before any of vpnns's code ran (the process start is timeOrigin).
  const boot = performance.nodeTiming.bootstrapComplete;
  emit('node bootstrap', performance.timeOrigin, boot);
  emit('process start -> trace enabled', performance.timeOrigin, performance.now());
}

export function tracing(): boolean {
  return enabled;
}

/** Milliseconds since the epoch, sub-millisecond precision. */
export function clock(): number {
  return performance.timeOrigin + performance.now();
}

function emit(what: string, start: number, ms: number): void {
  process.stderr.write(`vpnns-trace ${JSON.stringify({ t: Math.round((start + ms) * 10) / 10, ms: Math.round(ms * 10) / 10, pid: process.pid, what })}\n`);
}

/** A step that began at `start` (from clock()) ends now. */
export function traceSince(what: string, start: number): void {
  if (enabled) emit(what, start, clock() - start);
}

/** A moment (duration 0). */
export function traceMark(what: string): void {
  if (enabled) emit(what, clock(), 0);
}

/** Runs `fn`, tracing how long it took (also when it throws). */
export async function traced<T>(what: string, fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  const start = clock();
  try {
    return await fn();
  } finally {
    traceSince(what, start);
  }
}
