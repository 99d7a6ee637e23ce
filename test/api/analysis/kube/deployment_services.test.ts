/**
 * deployment.MultiServiceAnalyzer on Istio's testdata (Istio's expected sets): Services of one
 * meshed Deployment disagreeing on a port's protocol (IST0116) or sending one targetPort to
 * different ports (IST0137); Services in other namespaces or without selectors give nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labels, NO_TESTDATA, onFiles } from './run_kube.ts';

const A = 'deployment.MultiServiceAnalyzer';

test('Services sharing a Deployment on Istio testdata', { skip: NO_TESTDATA }, () => {
  const ms = onFiles(A, ['deployment-multi-service.yaml']);
  assert.deepEqual(labels(ms), [
    'IST0116 Deployment bookinfo/multiple-svc-multiple-prot',
    'IST0116 Deployment bookinfo/multiple-without-port',
    'IST0137 Deployment bookinfo/conflicting-ports',
  ]);
  assert.equal(ms.find((m) => m.code === 'IST0137')!.text, 'This deployment conflicting-ports is associated with multiple services [bookinfo/conflicting-ports-1 bookinfo/conflicting-ports-2] using targetPort "9080" but different ports: [9080 9090].');
  assert.deepEqual(labels(onFiles(A, ['deployment-multi-service-different-ns.yaml'])), []);
  assert.deepEqual(labels(onFiles(A, ['deployment-service-no-selector.yaml'])), []);
  assert.deepEqual(onFiles(A, ['deployment-multi-service.yaml'], false), [], '--use-kube=false skips it');
});
