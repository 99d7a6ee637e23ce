import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestEncoder } from '../../src/proxy/upstream/http1/request_encoder.ts';

// The proxy's own peer-metadata value is remembered once checked (it is the same on every
// request); the memo must never let a value with CR/LF through, however often it is seen.
test('a peer-metadata value with CR LF is refused every time; a valid one is written every time', () => {
  const e = new RequestEncoder();
  const good = 'a'.repeat(300);
  const bad = 'a'.repeat(150) + '\r\nx-injected: 1';
  for (let i = 0; i < 3; i++) {
    for (const name of ['x-envoy-peer-metadata', 'x-other']) {
      assert.equal(e.encode('GET', '/', [name, good], undefined, false), undefined);
      assert.match(e.head, new RegExp(`${name}: ${good}\r\n`));
      assert.equal(e.encode('GET', '/', [name, bad], undefined, false), `invalid ${name} header`);
    }
  }
});
