/**
 * Which pods the demo runs for the Deployments it is given: one per replica, named as at start,
 * and a pod template's identity that survives the YAML round trip through the config directory.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import type { Config } from '../../src/api/types.ts';
import { desiredPods, podTemplateKey } from '../../src/demo/live.ts';

function deployment(ns: string, name: string, replicas?: number, labels: Record<string, string> = { app: name }): Config {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns }, spec: { ...(replicas !== undefined ? { replicas } : {}), template: { metadata: { labels }, spec: { containers: [{ name, image: 'x' }] } } } };
}

test('one pod per replica (default 1), named like the first start, sorted by namespace/name', () => {
  const pods = desiredPods([deployment('legacy', 'httpbin'), deployment('foo', 'curl', 3), deployment('foo', 'none', 0)]);
  assert.deepEqual(pods.map((p) => p.key), ['foo/curl', 'foo/curl-2', 'foo/curl-3', 'legacy/httpbin']);
});

test('the template key: same after a YAML round trip and key reordering; changes with the template, not with replicas', () => {
  const d = deployment('foo', 'httpbin', 1, { app: 'httpbin', version: 'v1' });
  const back = parse(stringify(d)) as Config;
  assert.equal(podTemplateKey(back), podTemplateKey(d));
  assert.equal(podTemplateKey(deployment('foo', 'httpbin', 1, { version: 'v1', app: 'httpbin' })), podTemplateKey(d));
  assert.equal(podTemplateKey(deployment('foo', 'httpbin', 5, { app: 'httpbin', version: 'v1' })), podTemplateKey(d));
  assert.notEqual(podTemplateKey(deployment('foo', 'httpbin', 1, { app: 'httpbin', version: 'v2' })), podTemplateKey(d));
  assert.notEqual(podTemplateKey(deployment('bar', 'httpbin', 1, { app: 'httpbin', version: 'v1' })), podTemplateKey(d));
});
