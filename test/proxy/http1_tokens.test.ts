import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestEncoder } from '../../src/proxy/upstream/http1/request_encoder.ts';

// Long header values are remembered once checked (the peer-metadata header on every request);
// the memo must never let a value with CR/LF through, however often it is seen.
test('a long header value with CR LF is refused every time; a long valid one is written every time', () => {
  const e = new RequestEncoder();
  const good = 'a'.repeat(300);
  const bad = 'a'.repeat(150) + '\r\nx-injected: 1';
  for (let i = 0; i < 3; i++) {
    assert.equal(e.encode('GET', '/', ['x-envoy-peer-metadata', good], undefined, false), undefined);
    assert.match(e.head, new RegExp(`x-envoy-peer-metadata: ${good}\r\n`));
    assert.equal(e.encode('GET', '/', ['x-envoy-peer-metadata', bad], undefined, false), 'invalid x-envoy-peer-metadata header');
  }
  // Past the memo's bound it starts over and still checks.
  for (let i = 0; i < 600; i++) assert.equal(e.encode('GET', '/', ['x-v', `${i}`.padStart(200, 'b')], undefined, false), undefined);
  assert.equal(e.encode('GET', '/', ['x-v', bad], undefined, false), 'invalid x-v header');
});
