/**
 * collectGarbage (src/proxy/startup_gc.ts), which the proxy runs once it is ready: on the Node in
 * use it really runs a full collection, so old-generation garbage (what start-up leaves) is gone
 * afterwards rather than whenever V8 next needs the room.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapStatistics } from 'node:v8';
import { collectGarbage } from '../../src/proxy/startup_gc.ts';

test('collectGarbage frees old-generation garbage on this Node', () => {
  // Arrays this big live in the large-object space (old generation) from the start; a scavenge never frees them.
  let garbage: number[][] | undefined = Array.from({ length: 40 }, (_, i) => new Array<number>(100_000).fill(i + 0.5));
  assert.equal(garbage.length, 40);
  garbage = undefined;
  const before = getHeapStatistics().used_heap_size;
  assert.equal(collectGarbage(), true, 'no full collection available: Node changed how --expose-gc can be set at run time');
  const after = getHeapStatistics().used_heap_size;
  const freedMb = (before - after) / 1e6;
  assert.ok(freedMb > 25, `a full collection frees the 32 MB of dropped arrays (freed ${freedMb.toFixed(1)} MB)`);
});
