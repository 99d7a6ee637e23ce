/**
 * The webhook's RFC 6902 diff: keys with "/" and "~" escaped (RFC 6901), members removed and
 * added, arrays edited in place and appended to, or replaced when reordered; applying the patch
 * gives the target document.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, createPatch } from '../../src/kube/inject/json_patch.ts';

test('annotation keys are escaped: "/" as ~1, "~" as ~0', () => {
  const from = { metadata: { annotations: { a: '1' } } };
  const to = { metadata: { annotations: { a: '1', 'sidecar.istio.io/status': '{}', 'x~y': 'z' } } };
  const ops = createPatch(from, to);
  assert.deepEqual(ops, [
    { op: 'add', path: '/metadata/annotations/sidecar.istio.io~1status', value: '{}' },
    { op: 'add', path: '/metadata/annotations/x~0y', value: 'z' },
  ]);
  assert.deepEqual(applyPatch(from, ops), to);
});

test('arrays: edited in place and appended to by element; reordered ones replaced whole', () => {
  const from = { containers: [{ name: 'app', probe: { port: 8080 } }], volumes: [{ name: 'a' }] };
  const to = { containers: [{ name: 'app', probe: { port: 15020 } }, { name: 'istio-proxy' }], volumes: [{ name: 'istio-envoy' }, { name: 'a' }] };
  const ops = createPatch(from, to);
  assert.deepEqual(ops, [
    { op: 'replace', path: '/containers/0/probe/port', value: 15020 },
    { op: 'add', path: '/containers/-', value: { name: 'istio-proxy' } },
    { op: 'replace', path: '/volumes', value: [{ name: 'istio-envoy' }, { name: 'a' }] },
  ]);
  assert.deepEqual(applyPatch(from, ops), to);
});

test('removed members, type changes and equal documents', () => {
  const from = { a: 1, b: { c: [1, 2] }, d: 'x' };
  const to = { b: { c: 'now a string' }, d: 'x', e: null };
  const ops = createPatch(from, to);
  assert.deepEqual(ops, [
    { op: 'remove', path: '/a' },
    { op: 'replace', path: '/b/c', value: 'now a string' },
    { op: 'add', path: '/e', value: null },
  ]);
  assert.deepEqual(applyPatch(from, ops), to);
  assert.deepEqual(createPatch(to, structuredClone(to)), []);
});
