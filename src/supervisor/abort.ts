// Waiting that cleans up after itself. The supervisor runs for weeks: every sleep, every "until the
// tunnel comes up" and every "until stop" must leave nothing behind once it is over, whichever way it
// ended. Each helper removes its own timer, event listener and abort listener when it settles.
import type { EventEmitter } from 'node:events';
import { sleep } from '../sys/process.js';

export const ABORTED = Symbol('aborted');
export type Aborted = typeof ABORTED;

/**
 * The general form: `arm(done)` starts waiting and returns how to undo that; the promise settles
 * with what `done` got, or ABORTED when `signal` aborts first. Either way both are undone.
 */
export function waitFor<T>(signal: AbortSignal, arm: (done: (v: T) => void) => () => void): Promise<T | Aborted> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve) => {
    let settled = false;
    let disarm: (() => void) | undefined;
    const finish = (v: T | Aborted) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      disarm?.();
      resolve(v);
    };
    const onAbort = () => finish(ABORTED);
    signal.addEventListener('abort', onAbort);
    disarm = arm(finish);
    // `arm` may have called done synchronously, before disarm existed.
    if (settled) disarm();
  });
}

/** Sleeps `ms` (the one sleep, sys/process.ts), or less when `signal` aborts; 'slept' or ABORTED. */
export async function sleepUnless(ms: number, signal: AbortSignal): Promise<'slept' | Aborted> {
  await sleep(ms, signal);
  return signal.aborted ? ABORTED : 'slept';
}

/** The next `event` on `emitter` (its first argument), or ABORTED. */
export function nextEvent<T = unknown>(emitter: EventEmitter, event: string, signal: AbortSignal): Promise<T | Aborted> {
  return waitFor<T>(signal, (done) => {
    const on = (v: T) => done(v);
    emitter.once(event, on);
    return () => emitter.off(event, on);
  });
}

/** A promise's value, or ABORTED; the promise itself is left alone (it must settle on its own). */
export function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | Aborted> {
  return waitFor<T>(signal, (done) => {
    let live = true;
    void p.then(
      (v) => live && done(v),
      () => {},
    );
    return () => (live = false);
  });
}

/**
 * A controller that aborts with `parent` (and can be aborted alone). `dispose()` (or aborting it)
 * removes its listener from the parent, so short-lived children never pile up on a long-lived parent.
 */
export function childController(parent: AbortSignal): AbortController & { dispose(): void } {
  const c = new AbortController() as AbortController & { dispose(): void };
  const follow = () => c.abort();
  const dispose = () => parent.removeEventListener('abort', follow);
  c.dispose = () => {
    dispose();
    c.abort();
  };
  if (parent.aborted) c.abort();
  else {
    parent.addEventListener('abort', follow);
    c.signal.addEventListener('abort', dispose, { once: true });
  }
  return c;
}
