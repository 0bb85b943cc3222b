import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../../src/supervisor/backoff.js';

// A realistic clock: Date.now()-sized numbers, advanced by hand.
const T0 = 1_700_000_000_000;

test('first restart is immediate, then doubling from 1 s up to the 30 s cap', () => {
  const b = new Backoff();
  b.started(T0);
  const delays: number[] = [];
  for (let i = 0; i < 9; i++) {
    const now = T0 + 1000 * (i + 1);
    delays.push(b.next(now));
    b.started(now);
  }
  assert.deepEqual(delays, [0, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('a component that stayed up past the stable period starts again from zero', () => {
  const b = new Backoff();
  let now = T0;
  b.started(now);
  for (let i = 0; i < 4; i++) {
    now += 500;
    b.next(now);
    b.started(now);
  }
  // Up for 61 s, then it fails: immediate restart again.
  now += 61_000;
  assert.equal(b.next(now), 0);
  b.started(now);
  now += 100;
  assert.equal(b.next(now), 1000);
});

test('no reset while it keeps failing quickly', () => {
  const b = new Backoff();
  let now = T0;
  b.started(now);
  const got: number[] = [];
  for (let i = 0; i < 4; i++) {
    now += 59_000; // up just under the stable period each time
    got.push(b.next(now));
    b.started(now);
  }
  assert.deepEqual(got, [0, 1000, 2000, 4000]);
});

test('storm: flagged after N restarts inside the window, cleared once they age out', () => {
  const b = new Backoff({ firstMs: 0, baseMs: 1000, maxMs: 30_000, resetAfterMs: 60_000, stormCount: 3, stormWindowMs: 10_000 });
  b.started(T0);
  b.next(T0 + 1000);
  b.next(T0 + 2000);
  assert.equal(b.storm, false);
  assert.equal(b.restartsInWindow, 2);
  b.next(T0 + 3000);
  assert.equal(b.storm, true);
  // Well after the window: the old restarts no longer count.
  b.next(T0 + 30_000);
  assert.equal(b.restartsInWindow, 1);
  assert.equal(b.storm, false);
});

test('default storm threshold: 10 restarts in 5 minutes', () => {
  const b = new Backoff();
  b.started(T0);
  for (let i = 1; i <= 9; i++) b.next(T0 + i * 20_000);
  assert.equal(b.storm, false);
  b.next(T0 + 10 * 20_000);
  assert.equal(b.storm, true);
});
