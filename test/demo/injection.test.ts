/**
 * Which pods get a sidecar: Istio's injection rules (namespace label, pod label over pod
 * annotation) on Deployment and Namespace YAML, plus the demo's default for namespaces that no
 * Namespace YAML defines.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Config } from '../../src/api/types.ts';
import { sidecarInjection } from '../../src/demo/injection.ts';

function deployment(ns: string, tpl: { labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Config {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'curl', namespace: ns }, spec: { template: { metadata: { labels: { app: 'curl', ...tpl.labels }, ...(tpl.annotations ? { annotations: tpl.annotations } : {}) } } } };
}
function namespace(name: string, labels?: Record<string, string>): Config {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, namespace: '', ...(labels ? { labels } : {}) }, spec: undefined };
}
const NS = [namespace('foo', { 'istio-injection': 'enabled' }), namespace('legacy'), namespace('off', { 'istio-injection': 'disabled' }), namespace('canary', { 'istio.io/rev': 'canary' })];
const inject = 'sidecar.istio.io/inject';

test('namespace labels: istio-injection=enabled or istio.io/rev inject; no label or disabled do not', () => {
  assert.deepEqual(sidecarInjection(deployment('foo'), NS), { sidecar: true, reason: 'namespace foo has istio-injection=enabled' });
  assert.equal(sidecarInjection(deployment('canary'), NS).sidecar, true);
  assert.deepEqual(sidecarInjection(deployment('legacy'), NS), { sidecar: false, reason: 'namespace legacy is not labelled istio-injection=enabled' });
  assert.equal(sidecarInjection(deployment('off'), NS).sidecar, false);
});

test('a namespace without Namespace YAML injects (the demo as before), unless the pod says false', () => {
  assert.equal(sidecarInjection(deployment('default'), NS).sidecar, true);
  assert.equal(sidecarInjection(deployment('default', { annotations: { [inject]: 'false' } }), NS).sidecar, false);
  assert.equal(sidecarInjection(deployment('default', { labels: { [inject]: 'false' } }), NS).sidecar, false);
});

test('pod label or annotation "false" opts out; the label wins over the annotation', () => {
  assert.deepEqual(sidecarInjection(deployment('foo', { annotations: { [inject]: 'false' } }), NS), { sidecar: false, reason: `pod annotation ${inject}=false` });
  assert.deepEqual(sidecarInjection(deployment('foo', { labels: { [inject]: 'false' } }), NS), { sidecar: false, reason: `pod label ${inject}=false` });
  assert.equal(sidecarInjection(deployment('foo', { labels: { [inject]: 'true' }, annotations: { [inject]: 'false' } }), NS).sidecar, true);
  assert.equal(sidecarInjection(deployment('foo', { labels: { [inject]: 'false' }, annotations: { [inject]: 'true' } }), NS).sidecar, false);
});

test('pod label "true" injects in an unlabelled namespace, not in one labelled disabled; an annotation alone does not', () => {
  assert.deepEqual(sidecarInjection(deployment('legacy', { labels: { [inject]: 'true' } }), NS), { sidecar: true, reason: `pod label ${inject}=true` });
  assert.equal(sidecarInjection(deployment('off', { labels: { [inject]: 'true' } }), NS).sidecar, false);
  assert.equal(sidecarInjection(deployment('legacy', { annotations: { [inject]: 'true' } }), NS).sidecar, false);
});
