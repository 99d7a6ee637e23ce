/**
 * injection.Analyzer on Istio's injection.yaml (Istio's expected set): a namespace without an
 * injection label (IST0102), one with several kinds (IST0123), an unproxied Pod of an injected
 * namespace (IST0103); disabled, ambient, revision-labelled namespaces, opted-out and
 * host-network Pods give nothing. An injector enabling namespaces by default turns IST0102 into
 * IST0148.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labels, NO_TESTDATA, onFiles, onYaml } from './run_kube.ts';

const A = 'injection.Analyzer';

test('injection.yaml gives Istio\'s messages', { skip: NO_TESTDATA }, () => {
  const ms = onFiles(A, ['injection.yaml']);
  assert.deepEqual(labels(ms), [
    'IST0102 Namespace bar',
    'IST0103 Pod default/noninjectedpod',
    'IST0123 Namespace busted',
    'IST0123 Namespace multi-ns-1',
    'IST0123 Namespace multi-ns-2',
    'IST0123 Namespace multi-ns-3',
  ]);
  assert.equal(ms.find((m) => m.code === 'IST0103')!.text, 'The pod default/noninjectedpod is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload.');
  assert.match(ms.find((m) => m.code === 'IST0102')!.text, /kubectl label namespace bar istio-injection=enabled/);
  assert.deepEqual(labels(onFiles(A, ['injection.yaml', 'common/sidecar-injector-enabled-nsbydefault.yaml'])).filter((l) => l.includes('bar')), ['IST0148 Namespace bar']);
  assert.deepEqual(onFiles(A, ['injection.yaml'], false), [], '--use-kube=false skips it');
});

test('an injected namespace whose Pods have their proxy gives nothing; Kubernetes\' own namespaces are not read', () => {
  const yaml = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec: {containers: [{name: web, image: web}, {name: istio-proxy, image: proxyv2}]}
`;
  assert.deepEqual(labels(onYaml(A, yaml)), []);
});
