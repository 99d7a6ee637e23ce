import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationMsOf, envoyDuration, parseDuration, toMs } from '../../src/api/duration.ts';

test('Go-style and proto3 durations read the same everywhere', () => {
  assert.equal(durationMsOf('1m30s'), 90_000);
  assert.equal(durationMsOf('.5s'), 500);
  assert.equal(durationMsOf('1.5s'), 1500);
  assert.equal(durationMsOf('250ms'), 250);
  assert.equal(durationMsOf('1h'), 3_600_000);
  assert.equal(durationMsOf('1h2m3.5s'), 3_723_500);
  assert.equal(durationMsOf('100us'), 0.1);
  assert.equal(durationMsOf('0'), 0);
  for (const bad of ['', ' 10s', '3 seconds', '1', 's', '.s', '1x', '1s2']) assert.equal(durationMsOf(bad), undefined, bad);
});

test('Envoy JSON form is exact', () => {
  assert.equal(envoyDuration('1m30s'), '90s');
  assert.equal(envoyDuration('.5s'), '0.5s');
  assert.equal(envoyDuration('0.1s'), '0.1s');
  assert.equal(envoyDuration('1ms'), '0.001s');
  assert.equal(envoyDuration('-1.5s'), '-1.5s');
  assert.equal(envoyDuration({ seconds: 2, nanos: 5e8 }), '2.5s');
  assert.deepEqual(parseDuration('0.000000001s'), { seconds: 0, nanos: 1 });
  assert.equal(toMs('2.25s'), 2250);
  assert.throws(() => parseDuration('3 seconds', 'spec.http[0].timeout'), (e: any) => e.code === 'TSMESH_ERR_INVALID_DURATION' && /spec\.http\[0\]\.timeout/.test(e.message));
});
