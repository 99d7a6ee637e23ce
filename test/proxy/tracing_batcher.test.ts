/**
 * The exporters' span queue under a manual clock: batches by size and by time, at most
 * maxInFlight reports outstanding, and a bounded queue that drops (and counts) when the collector
 * does not answer, so a dead collector never grows memory.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanBatcher } from '../../src/proxy/tracing/batcher.ts';
import type { FinishedSpan } from '../../src/proxy/tracing/span.ts';
import { ManualClock } from '../helpers/clock.ts';

function span(i: number): FinishedSpan {
  return { traceId: 'a'.repeat(32), id: i.toString(16).padStart(16, '0'), name: 'x', kind: 'CLIENT', shared: false, timestampUs: 0, durationUs: 1, tags: {}, error: false };
}

function counting() {
  let n = 0;
  return { inc: (k = 1) => void (n += k), get value() { return n; } };
}

function setup(o: { answer: boolean }) {
  const clock = new ManualClock();
  const sent: FinishedSpan[][] = [];
  const pending: Array<(ok: boolean) => void> = [];
  const dropped = counting();
  const timer = counting();
  const b = new SpanBatcher({
    minFlushSpans: 5,
    flushIntervalMs: 5000,
    maxQueued: 100,
    maxBatch: 50,
    maxInFlight: 2,
    clock,
    stats: { spansDropped: dropped, timerFlushed: timer },
    send: (spans, done) => {
      sent.push(spans);
      if (o.answer) done(true);
      else pending.push(done);
    },
  });
  return { clock, sent, pending, dropped, timer, b };
}

test('five spans make a report at once; fewer wait for the flush interval', async () => {
  const { clock, sent, timer, b } = setup({ answer: true });
  for (let i = 0; i < 5; i++) b.add(span(i));
  assert.deepEqual(sent.map((s) => s.length), [5]);
  for (let i = 0; i < 3; i++) b.add(span(10 + i));
  assert.equal(sent.length, 1, 'three spans wait');
  await clock.advance(4999);
  assert.equal(sent.length, 1);
  await clock.advance(1);
  assert.deepEqual(sent.map((s) => s.length), [5, 3]);
  assert.equal(timer.value, 1);
});

test('a collector that never answers: two reports in flight, the queue stops at its cap, the rest is dropped and counted', async () => {
  const { clock, sent, pending, dropped, b } = setup({ answer: false });
  for (let i = 0; i < 1000; i++) b.add(span(i));
  await clock.advance(60_000);
  assert.equal(sent.length, 2, 'no more than maxInFlight outstanding reports');
  const inFlight = sent.reduce((n, s) => n + s.length, 0);
  assert.ok(b.queued <= 100, `queue bounded: ${b.queued}`);
  assert.equal(inFlight + b.queued + dropped.value, 1000, 'every span is sent, queued or counted as dropped');
  // The collector comes back: what waited goes out.
  pending.splice(0).forEach((done) => done(true));
  assert.ok(sent.length > 2);
});

test('close sends what is queued at once (even fewer than min_flush_spans), refuses new spans, and resolves when the reports settle', async () => {
  const { sent, pending, dropped, b } = setup({ answer: false });
  for (let i = 0; i < 13; i++) b.add(span(i));
  // Two reports of 5 in flight (the limit), 3 spans queued: fewer than min_flush_spans, so they would wait for the timer.
  assert.deepEqual(sent.map((s) => s.length), [5, 5]);
  let closed = false;
  const done = b.close().then(() => (closed = true));
  b.add(span(999));
  assert.equal(dropped.value, 1, 'a closed batcher drops and counts');
  pending.shift()!(true);
  assert.deepEqual(sent.map((s) => s.length), [5, 5, 3], 'the rest goes as soon as a report settles');
  await Promise.resolve();
  assert.equal(closed, false, 'two reports still outstanding');
  for (const p of pending.splice(0)) p(true);
  await done;
  assert.equal(closed, true);
  assert.equal(b.queued, 0);
});
