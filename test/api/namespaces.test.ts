import { test } from 'node:test';
import assert from 'node:assert/strict';
import { namespaceFilter, namespaceSelected } from '../../src/api/namespaces.ts';
import { parseConfigs } from '../../src/api/yaml.ts';

test('no discoverySelectors selects every namespace', () => {
  assert.equal(namespaceSelected({}, 'anything'), true);
  assert.equal(namespaceSelected({ discoverySelectors: [] }, 'anything'), true);
});

test('matchLabels and matchExpressions, ORed across selectors', () => {
  const mesh = {
    discoverySelectors: [
      { matchLabels: { env: 'prod' } },
      { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }, { key: 'legacy', operator: 'DoesNotExist' }] },
    ],
  };
  assert.equal(namespaceSelected(mesh, 'p', { env: 'prod' }), true);
  assert.equal(namespaceSelected(mesh, 'q', { env: 'dev' }), false);
  assert.equal(namespaceSelected(mesh, 'r', { team: 'a' }), true);
  assert.equal(namespaceSelected(mesh, 's', { team: 'a', legacy: 'yes' }), false);
  assert.equal(namespaceSelected(mesh, 't', { team: 'c' }), false);
});

test('a namespace without a Namespace object has only the kubernetes.io/metadata.name label', () => {
  const mesh = { discoverySelectors: [{ matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } }, { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }, { key: 'env', operator: 'Exists' }] }] };
  const { configs } = parseConfigs(`apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {env: prod}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: lab, labels: {env: dev}}`);
  const selected = namespaceFilter(mesh, configs);
  assert.equal(selected('istio-system'), true);
  assert.equal(selected('shop'), true);
  assert.equal(selected('lab'), false);
  assert.equal(selected('unlabelled'), false);
});
