/** A tap session's bounds: at most maxRps events a second, at most maxQueue held, the rest counted as dropped. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TapSession, type TapEvent } from '../../src/proxy/tap/tap_session.ts';

const ev = (path: string): TapEvent => ({ type: 'event', time: '', direction: 'inbound', source: '', destination: '', tls: false, method: 'GET', authority: 'a', path, status: 200, latencyMs: 1, responseFlags: [] });

test('max rps: a burst of maxRps passes, then maxRps per second; the rest is counted as dropped', () => {
  let now = 1_000_000;
  const s = new TapSession({}, { maxRps: 5, now: () => now });
  let built = 0;
  const offer = () => s.offer(() => (built++, ev('/x')));
  for (let i = 0; i < 20; i++) offer();
  assert.equal(s.queued, 5);
  assert.equal(s.droppedRate, 15);
  // A dropped event is never built.
  assert.equal(built, 5);
  now += 1000;
  for (let i = 0; i < 20; i++) offer();
  assert.equal(s.queued, 10);
  assert.equal(s.droppedRate, 30);
  // Half a second refills half the rate.
  now += 400;
  for (let i = 0; i < 5; i++) offer();
  assert.equal(s.queued, 12);
  assert.equal(s.drain().length, 12);
  assert.equal(s.sent, 12);
  assert.equal(s.queued, 0);
});

test('bounded queue: a reader that does not drain costs at most maxQueue events; the rest is counted', () => {
  let now = 0;
  const s = new TapSession({}, { maxRps: 1000, maxQueue: 50, now: () => now });
  let readable = 0;
  s.onReadable = () => readable++;
  for (let sec = 0; sec < 10; sec++, now += 1000) for (let i = 0; i < 1000; i++) s.offer(() => ev('/x'));
  assert.equal(s.queued, 50);
  assert.equal(s.droppedQueue, 10_000 - 50);
  assert.equal(s.droppedRate, 0);
  assert.equal(readable, 1, 'the writer is woken once, when the queue stops being empty');
  assert.equal(s.drain(20).length, 20);
  assert.equal(s.queued, 30);
});

test('match: path prefix and method', () => {
  const s = new TapSession({ pathPrefix: '/reviews', method: 'GET' }, { maxRps: 10 });
  assert.equal(s.matches('GET', '/reviews/0'), true);
  assert.equal(s.matches('POST', '/reviews/0'), false);
  assert.equal(s.matches('GET', '/ratings/0'), false);
  assert.equal(new TapSession({}, { maxRps: 10 }).matches('DELETE', '/'), true);
});

test('max rps is capped so a client cannot ask the proxy for unbounded work', () => {
  assert.equal(new TapSession({}, { maxRps: 1e9 }).maxRps, 1000);
});
