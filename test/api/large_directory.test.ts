// A 1,000-resource directory of realistic VirtualServices and DestinationRules is read,
// validated and cross-checked without a false positive. How long it takes is printed, not
// asserted: speed belongs to `npm run bench -- controlplane`, which measures store loading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPaths } from '../../src/api/load.ts';
import { crossValidate } from '../../src/api/validation/cross.ts';
import { doc } from './helpers.ts';

test('1,000 resources in 100 files validate and cross-check clean', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-perf-'));
  try {
    for (let f = 0; f < 100; f++) {
      const docs: string[] = [];
      for (let i = 0; i < 5; i++) {
        const n = `svc-${f}-${i}`;
        docs.push(doc('DestinationRule', `host: ${n}\ntrafficPolicy:\n  connectionPool: {tcp: {maxConnections: 100}}\nsubsets:\n- {name: v1, labels: {version: v1}}\n- {name: v2, labels: {version: v2}}`, { name: n }));
        docs.push(doc('VirtualService', `hosts: [${n}]\nhttp:\n- match:\n  - uri: {regex: "^/api/v[0-9]+/${i}"}\n    headers: {end-user: {exact: jason}}\n  route:\n  - destination: {host: ${n}, subset: v2}\n- route:\n  - destination: {host: ${n}, subset: v1}\n    weight: 90\n  - destination: {host: ${n}, subset: v2}\n    weight: 10\n  retries: {attempts: 3, perTryTimeout: 2s}\n  timeout: 10s`, { name: n }));
      }
      writeFileSync(join(dir, `f${f}.yaml`), docs.join('---\n'));
    }
    const t0 = performance.now();
    const r = loadPaths([dir]);
    const cross = crossValidate(r.configs);
    const ms = performance.now() - t0;
    assert.equal(r.configs.length, 1000);
    assert.deepEqual([...r.errors, ...cross], []);
    t.diagnostic(`read, validated and cross-checked in ${ms.toFixed(0)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
