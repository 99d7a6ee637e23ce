/**
 * destinationrule.SubsetSelectPodAnalyzer on Istio's testdata (Istio's expected sets): a subset
 * no Pod matches (IST0173), a host no Service or ServiceEntry has (IST0174); node topology labels
 * count as the Pods' own, empty ones do not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labels, NO_TESTDATA, onFiles } from './run_kube.ts';

const A = 'destinationrule.SubsetSelectPodAnalyzer';

test('DestinationRule subsets on Istio testdata', { skip: NO_TESTDATA }, () => {
  const ms = onFiles(A, ['destinationrule-subsets-not-select-pods.yaml']);
  assert.deepEqual(labels(ms), ['IST0173 DestinationRule default/subsets-not-select-pods']);
  assert.equal(ms[0].text, 'The Subset fake defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).');
  assert.deepEqual(labels(onFiles(A, ['destinationrule-with-fake-host.yaml'])), ['IST0174 DestinationRule default/fake-host']);
  assert.deepEqual(labels(onFiles(A, ['destinationrule-subsets-with-topology-labels.yaml'])), []);
  assert.deepEqual(labels(onFiles(A, ['destinationrule-empty-topology-labels.yaml'])), ['IST0173 DestinationRule default/empty-topology-labels']);
  assert.deepEqual(onFiles(A, ['destinationrule-subsets-not-select-pods.yaml'], false), [], '--use-kube=false skips it');
});
