/**
 * x-request-id values are RFC 4122 version 4 UUIDs (as Envoy's), distinct across entropy refills.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uuidV4 } from '../../../src/proxy/http/common/request_id.ts';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('version 4 UUIDs, all distinct over many entropy refills, every random digit taking every value', () => {
  const seen = new Set<string>();
  const digits = Array.from({ length: 36 }, () => new Set<string>());
  for (let i = 0; i < 20_000; i++) {
    const id = uuidV4();
    assert.match(id, V4);
    seen.add(id);
    for (let j = 0; j < 36; j++) digits[j].add(id[j]);
  }
  assert.equal(seen.size, 20_000);
  for (let j = 0; j < 36; j++) {
    const expected = [8, 13, 18, 23].includes(j) ? 1 : j === 14 ? 1 : j === 19 ? 4 : 16;
    assert.equal(digits[j].size, expected, `position ${j}`);
  }
});
