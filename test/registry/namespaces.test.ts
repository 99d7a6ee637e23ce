import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NamespaceFilter, labelSelectorMatches } from '../../src/registry/namespaces.ts';

const known = new Map<string, Record<string, string>>([
  ['prod', { env: 'prod', team: 'books' }],
  ['staging', { env: 'staging' }],
  ['sandbox', {}],
]);
const pick = (f: NamespaceFilter) => ['prod', 'staging', 'sandbox', 'istio-system', 'unlabelled'].filter((n) => f.selected(n));

test('no selectors (absent or empty) select every namespace', () => {
  assert.deepEqual(pick(new NamespaceFilter(undefined, known)), ['prod', 'staging', 'sandbox', 'istio-system', 'unlabelled']);
  assert.deepEqual(pick(new NamespaceFilter([], known)), ['prod', 'staging', 'sandbox', 'istio-system', 'unlabelled']);
});

test('matchLabels selects by namespace labels; selectors are ORed', () => {
  assert.deepEqual(pick(new NamespaceFilter([{ matchLabels: { env: 'prod' } }], known)), ['prod']);
  assert.deepEqual(pick(new NamespaceFilter([{ matchLabels: { env: 'prod' } }, { matchLabels: { env: 'staging' } }], known)), ['prod', 'staging']);
});

test('a namespace without a Namespace object is selectable by kubernetes.io/metadata.name', () => {
  const f = new NamespaceFilter([{ matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } }, { matchLabels: { env: 'prod' } }], known);
  assert.deepEqual(pick(f), ['prod', 'istio-system']);
});

test('matchExpressions: In, NotIn, Exists, DoesNotExist, ANDed with matchLabels', () => {
  const exprs = (e: any) => pick(new NamespaceFilter([{ matchExpressions: [e] }], known));
  assert.deepEqual(exprs({ key: 'env', operator: 'In', values: ['prod', 'staging'] }), ['prod', 'staging']);
  // NotIn is satisfied by a missing key, as in Kubernetes.
  assert.deepEqual(exprs({ key: 'env', operator: 'NotIn', values: ['prod'] }), ['staging', 'sandbox', 'istio-system', 'unlabelled']);
  assert.deepEqual(exprs({ key: 'env', operator: 'Exists' }), ['prod', 'staging']);
  assert.deepEqual(exprs({ key: 'env', operator: 'DoesNotExist' }), ['sandbox', 'istio-system', 'unlabelled']);
  assert.deepEqual(exprs({ key: 'env', operator: 'Bogus' }), []);
  const both = new NamespaceFilter([{ matchLabels: { env: 'prod' }, matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['books'] }] }], known);
  assert.deepEqual(pick(both), []);
});

test('an empty selector object matches everything', () => {
  assert.equal(labelSelectorMatches({}, {}), true);
  assert.equal(labelSelectorMatches({ matchLabels: { a: 'b' } }, {}), false);
});
