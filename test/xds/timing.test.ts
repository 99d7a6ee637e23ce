/** Debouncer and Backoff in virtual time (fake timers, fixed random). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, type Timers } from '../../src/xds/client/backoff.ts';
import { Debouncer } from '../../src/xds/server/debounce.ts';

/** Timers driven by `advance(ms)`. */
function fakeTimers() {
  let now = 0;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    setTimeout: (fn, ms) => {
      pending.set(++seq, { at: now + ms, fn });
      return seq;
    },
    clearTimeout: (h) => void pending.delete(h as number),
  };
  const advance = async (ms: number) => {
    const end = now + ms;
    for (;;) {
      const due = [...pending].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      pending.delete(due[0]);
      now = due[1].at;
      due[1].fn();
      await new Promise((r) => setImmediate(r)); // let a fired push settle
    }
    now = end;
  };
  return { timers, advance, pending: () => pending.size };
}

test('debounce: a burst merges into one batch after the quiet period', async () => {
  const { timers, advance, pending } = fakeTimers();
  const batches: { items: number[]; merged: number }[] = [];
  const d = new Debouncer<number[]>({ afterMs: 100, maxMs: 10_000, timers }, (a, b) => [...a, ...b], async (items, merged) => void batches.push({ items, merged }));
  for (let i = 0; i < 20; i++) {
    d.add([i]);
    await advance(50); // never 100 ms of quiet
  }
  assert.equal(batches.length, 0);
  await advance(100);
  assert.equal(batches.length, 1);
  assert.equal(batches[0]!.merged, 20);
  assert.deepEqual(batches[0]!.items, [...Array(20).keys()]);
  assert.equal(pending(), 0, 'no timer left behind');
  d.close();
});

test('debounce: a burst that never goes quiet is flushed at maxMs; pushes never overlap', async () => {
  const { timers, advance } = fakeTimers();
  const batches: number[] = [];
  let running = 0;
  let overlapped = false;
  let release: (() => void) | undefined;
  const d = new Debouncer<number>({ afterMs: 100, maxMs: 1000, timers }, (a, b) => a + b, (n) => {
    if (running++ > 0) overlapped = true;
    batches.push(n);
    return new Promise<void>((r) => (release = () => {
      running--;
      r();
    }));
  });
  for (let i = 0; i < 15; i++) {
    d.add(1);
    await advance(90);
  }
  assert.equal(batches.length, 1, 'max wait reached during the burst');
  assert.equal(batches[0], 12); // adds at t=0..990 (12 of them) before the 1000 ms mark
  await advance(200); // the rest of the burst settles while the first push still runs
  assert.equal(batches.length, 1);
  release!();
  await advance(0);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(batches, [12, 3]);
  release!();
  await d.idle();
  assert.equal(overlapped, false);
  d.close();
});

test('backoff: full jitter under an exponential ceiling, capped, reset after success', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => b.next()), [99, 199, 399, 799, 999, 999]);
  b.reset();
  assert.equal(b.next(), 99);
  const zero = new Backoff({ initialMs: 100, random: () => 0 });
  assert.equal(zero.next(), 0);
  assert.throws(() => new Backoff({ initialMs: 0 }), RangeError);
});
