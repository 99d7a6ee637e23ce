/**
 * sidecar.SelectorAnalyzer on Istio's testdata (Istio's expected sets): a workloadSelector with
 * no Pod in its namespace (IST0101), Pods picked by two Sidecars (IST0110), two selector-less
 * Sidecars in a namespace (IST0111), Sidecars on ambient workloads (IST0167).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labels, NO_TESTDATA, onFiles } from './run_kube.ts';

const A = 'sidecar.SelectorAnalyzer';

test('Sidecar selectors on Istio testdata', { skip: NO_TESTDATA }, () => {
  assert.deepEqual(labels(onFiles(A, ['sidecar-selector.yaml'])), [
    'IST0101 Sidecar default/maps-to-nonexistent',
    'IST0101 Sidecar other/maps-to-different-ns',
    'IST0110 Sidecar default/dupe-1',
    'IST0110 Sidecar default/dupe-2',
    'IST0110 Sidecar default/overlap-1',
    'IST0110 Sidecar default/overlap-2',
  ]);
  assert.deepEqual(labels(onFiles(A, ['sidecar-default-selector.yaml'])), [
    'IST0111 Sidecar ns2/has-conflict-1',
    'IST0111 Sidecar ns2/has-conflict-2',
    'IST0167 Sidecar ns-ambient/namespace-scoped',
    'IST0167 Sidecar ns-ambient/pod-scoped',
  ]);
  assert.deepEqual(onFiles(A, ['sidecar-selector.yaml'], false), [], '--use-kube=false skips it');
});
