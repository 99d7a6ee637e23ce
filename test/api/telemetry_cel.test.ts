/**
 * Telemetry CEL expressions are compiled at apply time with the proxy's compiler: an unsupported
 * attribute, a syntax error or a non-boolean filter is rejected naming the field and position.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { doc, errorsOf } from './helpers.ts';
import { formatValidationError } from '../../src/api/types.ts';

const filter = (expr: string) => errorsOf(doc('Telemetry', `accessLogging:\n- providers: [{name: envoy}]\n  filter: {expression: ${JSON.stringify(expr)}}`));

test('a valid filter expression is accepted', () => {
  assert.deepEqual(filter('response.code >= 400'), []);
  assert.deepEqual(filter('response.code >= 400 && !(request.url_path in ["/healthz", "/ready"]) || response.flags != 0'), []);
});

test('an invalid filter expression is rejected with its position', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['response.code >= ', /Unexpected token: EOF at position 17/],
    ['response.code >= 400 && request.bogus == "x"', /unsupported attribute request\.bogus at position 32/],
    ['connection.tls_version == "TLSv1.3"', /unsupported attribute connection\.tls_version at position 11/],
    ['metadata.x == "y"', /unknown attribute metadata .* at position 0/],
    ['response.code', /expression has type int, expected bool/],
  ];
  for (const [expr, re] of cases) {
    const errs = filter(expr);
    assert.equal(errs.length, 1, `${expr}: ${errs.map(formatValidationError).join('; ')}`);
    assert.equal(errs[0]!.path, 'spec.accessLogging[0].filter.expression');
    assert.match(errs[0]!.message, re);
    t.diagnostic(formatValidationError(errs[0]!));
  }
});

test('metric tagOverrides values are CEL too', () => {
  const y = (v: string) => doc('Telemetry', `metrics:\n- overrides:\n  - match: {metric: REQUEST_COUNT}\n    tagOverrides:\n      method: {value: ${JSON.stringify(v)}}`);
  assert.deepEqual(errorsOf(y('request.method')), []);
  const errs = errorsOf(y('request.nope'));
  assert.equal(errs[0]?.path, 'spec.metrics[0].overrides[0].tagOverrides.method.value');
  assert.match(errs[0]!.message, /unsupported attribute request\.nope at position 8/);
});
