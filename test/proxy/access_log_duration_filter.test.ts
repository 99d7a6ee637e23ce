/**
 * Envoy's DurationFilter: it compares the stream's duration in ms, and does not match a stream
 * that has no duration (no end time), rather than comparing 0 as if it had taken no time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileAccessLogFilter } from '../../src/proxy/http/common/access_log_filter.ts';
import type { StreamInfo } from '../../src/proxy/interfaces.ts';

const info = (startTime: number, endTime?: number) =>
  ({ startTime, ...(endTime !== undefined ? { endTime } : {}), responseFlags: [], attemptCount: 0, bytesReceived: 0, bytesSent: 0 }) as unknown as StreamInfo;
const duration = (op: string, ms: number) => compileAccessLogFilter({ duration_filter: { comparison: { op, value: { default_value: ms, runtime_key: 'k' } } } }, 'filter');

test('duration_filter compares a finished stream\'s duration and never matches a stream without an end time', () => {
  const fast = duration('LE', 100);
  const slow = duration('GE', 100);
  const zero = duration('EQ', 0);
  assert.deepEqual([fast(info(1000, 1050)), slow(info(1000, 1050))], [true, false], '50 ms');
  assert.deepEqual([fast(info(1000, 1200)), slow(info(1000, 1200))], [false, true], '200 ms');
  assert.deepEqual([fast(info(1000)), slow(info(1000)), zero(info(1000))], [false, false, false], 'no end time: no duration to compare');
});
