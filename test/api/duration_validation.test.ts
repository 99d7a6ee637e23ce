// Issue 7, bug 1 (api side): validation reads durations with the same reader the pilot
// translates with (src/api/duration.ts), so "accepted" and "what reaches the proxy" agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationMsOf } from '../../src/api/duration.ts';
import { ERR } from '../../src/api/errors.ts';
import { doc, errorsOf } from './helpers.ts';

const vsWith = (timeout: string) => doc('VirtualService', `hosts: [r]\nhttp:\n- route:\n  - destination: {host: r}\n  timeout: ${JSON.stringify(timeout)}`);
const drWith = (interval: string) => doc('DestinationRule', `host: r\ntrafficPolicy:\n  outlierDetection:\n    interval: ${JSON.stringify(interval)}`);

// Go's time.ParseDuration grammar (what Istio's CRD rule `duration(self) >= duration('1ms')` uses).
const CASES = ['1m30s', '.5s', '1.5s', '250ms', '1h', '1h2m3.5s', '+5s', '1.s', '0.001s', '1ms', '999us', '0', '-1s', '0s', 'abc', '3 seconds', '1', '5sec', ''];

test('every duration field accepts exactly what the shared reader reads as >= 1ms', () => {
  for (const d of CASES) {
    const ms = durationMsOf(d);
    const shouldPass = ms !== undefined && ms >= 1;
    for (const [what, y, path] of [
      ['timeout', vsWith(d), 'spec.http[0].timeout'],
      ['outlierDetection.interval', drWith(d), 'spec.trafficPolicy.outlierDetection.interval'],
    ] as const) {
      const errs = errorsOf(y).filter((e) => e.path === path);
      if (shouldPass) assert.deepEqual(errs.map((e) => e.message), [], `${what} ${JSON.stringify(d)} should be accepted (${ms} ms)`);
      else if (d !== '') {
        assert.equal(errs.length, 1, `${what} ${JSON.stringify(d)} should be rejected`);
        assert.equal(errs[0]!.code, ERR.INVALID_DURATION, `${what} ${JSON.stringify(d)}`);
      }
    }
  }
});

test('"+5s" (Go and CEL accept a sign) validates; "1m30s" and ".5s" validate', () => {
  for (const d of ['+5s', '1m30s', '.5s']) assert.deepEqual(errorsOf(vsWith(d)), [], d);
});

test('a duration below 1ms is rejected with the duration code, naming the field', () => {
  const errs = errorsOf(vsWith('500us'));
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.path, 'spec.http[0].timeout');
  assert.equal(errs[0]!.code, ERR.INVALID_DURATION);
  assert.match(errs[0]!.message, /greater than 1ms/);
});
