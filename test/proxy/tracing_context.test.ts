/** Trace-context headers: B3 multi and single, W3C traceparent — what is accepted, what is not. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extractContext, Format, injectContext } from '../../src/proxy/tracing/span_context.ts';
import type { HeaderMap } from '../../src/proxy/interfaces.ts';

const h = (o: Record<string, string>): HeaderMap => new Map(Object.entries(o));
const T32 = '463ac35c9f6413ad48485a3953bb6124';
const S = 'a2fb4a1d1a96d312';

test('B3 multi: ids lower-cased, sampled 1/true/0, debug flag implies sampled', () => {
  assert.deepEqual(extractContext(h({ 'x-b3-traceid': T32.toUpperCase(), 'x-b3-spanid': S, 'x-b3-sampled': 'true' })), { traceId: T32, spanId: S, parentId: undefined, sampled: true, debug: false, formats: Format.B3 });
  assert.equal((extractContext(h({ 'x-b3-traceid': T32, 'x-b3-spanid': S, 'x-b3-sampled': '0' })) as any).sampled, false);
  assert.equal((extractContext(h({ 'x-b3-traceid': T32, 'x-b3-spanid': S, 'x-b3-flags': '1' })) as any).sampled, true);
  assert.equal((extractContext(h({ 'x-b3-traceid': T32, 'x-b3-spanid': S })) as any).sampled, undefined, 'no decision: ours applies');
  assert.equal(extractContext(h({ 'x-b3-traceid': 'xyz', 'x-b3-spanid': S })), undefined, 'a malformed id is no context');
  assert.deepEqual(extractContext(h({ 'x-b3-sampled': '0' })), { sampled: false, formats: Format.B3 }, 'a decision without ids');
});

test('B3 single: full, with parent, debug, and a bare decision', () => {
  assert.deepEqual(extractContext(h({ b3: `${T32}-${S}-1-0020000000000001` })), { traceId: T32, spanId: S, parentId: '0020000000000001', sampled: true, debug: false, formats: Format.B3_SINGLE });
  assert.equal((extractContext(h({ b3: `${T32}-${S}-d` })) as any).sampled, true);
  assert.deepEqual(extractContext(h({ b3: '0' })), { sampled: false, formats: Format.B3_SINGLE });
  assert.equal(extractContext(h({ b3: `${T32}-short` })), undefined);
});

test('traceparent: version 00 only with four fields, no all-zero ids, sampled flag bit', () => {
  assert.deepEqual(extractContext(h({ traceparent: `00-${T32}-${S}-01`, tracestate: 'a=1' })), { traceId: T32, spanId: S, sampled: true, tracestate: 'a=1', formats: Format.W3C });
  assert.equal((extractContext(h({ traceparent: `00-${T32}-${S}-00` })) as any).sampled, false);
  assert.equal(extractContext(h({ traceparent: `00-${'0'.repeat(32)}-${S}-01` })), undefined);
  assert.equal(extractContext(h({ traceparent: `ff-${T32}-${S}-01` })), undefined);
  assert.equal(extractContext(h({ traceparent: `00-${T32}-${S}-01-extra` })), undefined);
  assert.ok(extractContext(h({ traceparent: `01-${T32}-${S}-01-extra` })), 'a later version may add fields');
});

test('which format wins: B3 first for zipkin, traceparent first for OpenTelemetry', () => {
  const both = h({ 'x-b3-traceid': T32, 'x-b3-spanid': S, traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` });
  assert.equal((extractContext(both) as any).traceId, T32);
  assert.equal((extractContext(both, true) as any).traceId, '1'.repeat(32));
});

test('injection writes each asked format; a 64-bit trace id is padded in traceparent', () => {
  const out = h({ 'x-b3-flags': '1' });
  injectContext(out, { traceId: S, spanId: '1'.repeat(16), parentId: S, sampled: true }, Format.B3 | Format.B3_SINGLE | Format.W3C);
  assert.equal(out.get('x-b3-traceid'), S);
  assert.equal(out.get('x-b3-parentspanid'), S);
  assert.equal(out.get('x-b3-sampled'), '1');
  assert.equal(out.has('x-b3-flags'), false);
  assert.equal(out.get('b3'), `${S}-${'1'.repeat(16)}-1-${S}`);
  assert.equal(out.get('traceparent'), `00-${'0'.repeat(16)}${S}-${'1'.repeat(16)}-01`);
});
