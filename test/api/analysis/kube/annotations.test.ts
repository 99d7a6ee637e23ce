/**
 * annotations.K8sAnalyzer on Istio's misannotated.yaml (Istio's expected set): an unknown
 * istio.io annotation (IST0108), annotations on kinds they do not belong to (IST0107), a
 * deprecated one (IST0135) and a bad value (IST0125); other domains, Istio-set annotations and
 * correct ones give nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ISTIO_ANNOTATIONS } from '../../../../src/api/analysis/annotations_catalog.ts';
import { labels, NO_TESTDATA, onFiles, onYaml } from './run_kube.ts';

const A = 'annotations.K8sAnalyzer';

test('misannotated.yaml gives Istio\'s messages', { skip: NO_TESTDATA }, () => {
  const ms = onFiles(A, ['misannotated.yaml']);
  assert.deepEqual(labels(ms), [
    'IST0107 Deployment fortio-deploy',
    'IST0107 Namespace staging',
    'IST0107 Pod grafana-test',
    'IST0108 Service httpbin',
    'IST0125 Pod invalid-annotations',
    'IST0135 Deployment fortio-deploy',
  ]);
  const text = (code: string) => ms.filter((m) => m.code === code).map((m) => m.text);
  assert.deepEqual(text('IST0108'), ['Unknown annotation: networking.istio.io/exportThree']);
  assert.ok(text('IST0107').includes('Misplaced annotation: sidecar.istio.io/statsInclusionPrefixes can only be applied to Pod'));
  assert.equal(ms.find((m) => m.code === 'IST0108')!.resource!.origin.line(ms.find((m) => m.code === 'IST0108')!.path), 10, 'points at the annotation\'s line');
  assert.deepEqual(onFiles(A, ['misannotated.yaml'], false), [], '--use-kube=false skips it');
});

test('clean annotations give nothing; the deprecated inject annotation is quiet next to its label', () => {
  const yaml = `apiVersion: v1
kind: Pod
metadata:
  name: ok
  labels: {sidecar.istio.io/inject: "true"}
  annotations:
    sidecar.istio.io/inject: "true"
    proxy.istio.io/config: "{}"
    traffic.sidecar.istio.io/excludeOutboundPorts: "25,3306"
    readiness.status.sidecar.istio.io/periodSeconds: "10"
    example.com/anything: x
---
apiVersion: v1
kind: Service
metadata:
  name: svc
  annotations: {networking.istio.io/exportTo: ".", galley.istio.io/analyze-suppress: IST0118}
`;
  assert.deepEqual(labels(onYaml(A, yaml)), []);
  const noLabel = onYaml(A, yaml.replace('  labels: {sidecar.istio.io/inject: "true"}\n', ''));
  assert.deepEqual(noLabel.map((m) => m.text), ['Annotation "sidecar.istio.io/inject" has been deprecated in favor of the "sidecar.istio.io/inject" label and may not work in future Istio versions.']);
});

test('the catalogue knows Istio\'s annotations and where they go', () => {
  const by = new Map(ISTIO_ANNOTATIONS.map((a) => [a.name, a]));
  assert.deepEqual(by.get('networking.istio.io/exportTo')?.resources, ['Service']);
  assert.deepEqual(by.get('galley.istio.io/analyze-suppress')?.resources, ['Any']);
  assert.equal(by.get('sidecar.istio.io/statsInclusionPrefixes')?.deprecated, true);
  assert.equal(by.get('proxy.istio.io/config')?.deprecated, false);
  assert.ok(ISTIO_ANNOTATIONS.length >= 60);
});
