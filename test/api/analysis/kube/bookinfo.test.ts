/**
 * Istio's Bookinfo (the app, its Gateway and every DestinationRule) through every analyzer,
 * Kubernetes ones included: no false positives. The only findings are the two ratings subsets
 * whose workloads bookinfo.yaml does not deploy (v2-mysql, v2-mysql-vm), which a cluster running
 * it would report too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadInputs } from '../../../../src/api/analysis/load.ts';
import { analyze } from '../../../../src/api/analysis/run.ts';
import { ISTIO_ROOT } from '../conformance.ts';
import { labels } from './run_kube.ts';

const B = join(ISTIO_ROOT, 'samples/bookinfo');

test('Bookinfo gives no false positives', { skip: !existsSync(B) && 'istio-data not present' }, () => {
  const files = ['platform/kube/bookinfo.yaml', 'networking/bookinfo-gateway.yaml', 'networking/destination-rule-all.yaml', 'networking/virtual-service-all-v1.yaml'];
  const { resources } = loadInputs(files.map((f) => join(B, f)));
  const ms = analyze(resources, { namespaces: ['default'] });
  for (const m of ms) console.log(`${m.code} ${m.resource?.kind} ${m.resource?.namespace}/${m.resource?.name}: ${m.text}`);
  assert.deepEqual(labels(ms), ['IST0173 DestinationRule default/ratings', 'IST0173 DestinationRule default/ratings']);
  assert.deepEqual(ms.map((m) => m.text.match(/Subset (\S+)/)![1]).sort(), ['v2-mysql', 'v2-mysql-vm']);
});
