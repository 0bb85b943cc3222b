// One daemon that hangs off the tunnel (or not): started when allowed, restarted with capped backoff
// when it dies. Ends through `signal` (its own controller: `app stop`, a changed spec, or the
// supervisor stopping). Every wait of an iteration is made with that iteration's controller and is
// gone when the iteration ends, so a service that crash-loops for a week costs what one restart does.
import type { Running } from '../sys/process.js';
import { ABORTED, childController, nextEvent, sleepUnless, unlessAborted } from './abort.js';
import { Backoff, DEFAULT_BACKOFF } from './backoff.js';
import type { SupervisorCore } from './core.js';
import { logDirFor } from '../core/log.js';
import type { ServiceSpec } from '../core/services.js';

export interface ServiceHandle {
  /** The process running now, for stop(). */
  current?: Running;
}

function exitText(r: { code: number | null; signal: NodeJS.Signals | null }): string {
  return `exited (${r.signal ?? `code ${r.code}`})`;
}

export async function serviceLoop(core: SupervisorCore, spec: ServiceSpec, signal: AbortSignal, handle: ServiceHandle): Promise<void> {
  const slog = core.log.child(spec.name);
  const backoff = new Backoff(core.backoff);
  const resetAfterMs = { ...DEFAULT_BACKOFF, ...core.backoff }.resetAfterMs;
  let restarts = 0;
  while (!signal.aborted) {
    const iter = childController(signal);
    try {
      if (spec.needsTunnel && !core.tunnelUp) {
        core.set(spec.name, { state: 'waiting', pid: undefined, detail: { waitingFor: 'tunnel' } });
        await nextEvent(core.events, 'tunnel-up', iter.signal);
        continue;
      }
      core.set(spec.name, { state: 'starting', restarts });
      backoff.started();
      try {
        await spec.prepare?.(core.sys, { tunnel: core.tunnel });
      } catch (e) {
        // A failed preparation is a failed start: back off and try again, never take the supervisor down.
        restarts++;
        const delay = Math.max(1000, backoff.next());
        slog('error', 'could not prepare', { error: (e as Error).message, retryInMs: delay });
        core.set(spec.name, { state: 'backoff', lastError: (e as Error).message, restarts, crashLooping: backoff.crashLooping, detail: { retryInMs: delay } });
        await sleepUnless(delay, iter.signal);
        continue;
      }
      if (signal.aborted) break;
      const proc = core.sys.start(spec.process, { logFile: spec.logFile ?? `${logDirFor(core.cfg)}/${spec.name}.log` });
      handle.current = proc;
      core.set(spec.name, { state: 'running', pid: proc.pid, restarts });
      slog('info', 'started', { pid: proc.pid });
      // Up for the stable period: no longer crash-looping (the backoff starts from zero at the next failure).
      void sleepUnless(resetAfterMs, iter.signal).then((r) => r === 'slept' && core.status.components[spec.name]?.crashLooping && core.set(spec.name, { crashLooping: false }));
      const follows = spec.followsTunnel ?? spec.needsTunnel;
      const waits: Array<Promise<unknown>> = [unlessAborted(proc.exited, iter.signal)];
      if (follows) waits.push(nextEvent(core.events, 'tunnel-down', iter.signal).then((v) => (v === ABORTED ? v : 'tunnel went down')));
      const why = await Promise.race(waits);
      iter.abort();
      await proc.stop(spec.stopGraceMs ?? 2000);
      handle.current = undefined;
      if (signal.aborted) break;
      if (why === 'tunnel went down') {
        // Not a failure: it follows the tunnel and comes back with it.
        slog('info', 'stopped with the tunnel');
        continue;
      }
      const exit = why as { code: number | null; signal: NodeJS.Signals | null };
      restarts++;
      const delay = backoff.next();
      const crashLooping = backoff.crashLooping;
      slog('warn', 'died; restarting', { reason: exitText(exit), restarts, retryInMs: delay, crashLooping });
      if (backoff.storm) slog('error', 'restart storm', { restartsInWindow: backoff.restartsInWindow });
      core.set(spec.name, {
        state: 'backoff',
        lastError: exitText(exit),
        lastExitCode: exit.code,
        ...(exit.signal ? { lastSignal: exit.signal } : { lastSignal: undefined }),
        restarts,
        crashLooping,
        pid: undefined,
        detail: { retryInMs: delay, storm: backoff.storm },
      });
      const rest = childController(signal);
      await sleepUnless(Math.max(delay, 200), rest.signal);
      rest.dispose();
    } finally {
      iter.dispose();
    }
  }
}
