import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConsistency } from '../../src/pilot/consistency.ts';
import { generate } from '../../src/pilot/generator.ts';
import { TYPE } from '../../src/xds/types.ts';
import { bookinfoPush, bookinfoProxy } from './fixtures.ts';

test('a full sidecar set is consistent; dropping an EDS, RDS or cluster is reported', () => {
  const { push, workloads } = bookinfoPush(['destination-rule-all.yaml', 'virtual-service-reviews-80-20.yaml']);
  const proxy = bookinfoProxy(workloads);
  const set = {
    clusters: generate(push, proxy, TYPE.CLUSTER),
    endpoints: generate(push, proxy, TYPE.ENDPOINT),
    listeners: generate(push, proxy, TYPE.LISTENER),
    routes: generate(push, proxy, TYPE.ROUTE),
  };
  assert.deepEqual(checkConsistency(set), []);
  const v2 = 'outbound|9080|v2|reviews.default.svc.cluster.local';
  assert.deepEqual(checkConsistency({ ...set, endpoints: set.endpoints.filter((e) => e.name !== v2) }), [`cluster ${v2}: EDS resource ${v2} missing`]);
  assert.deepEqual(checkConsistency({ ...set, routes: [] }), ['listener 0.0.0.0_9080: route configuration 9080 missing']);
  const errs = checkConsistency({ ...set, clusters: set.clusters.filter((c) => c.name !== v2) });
  assert.ok(errs.includes(`route 9080: cluster ${v2} missing`), errs.join('\n'));
});

test('names narrow the output to what was asked', () => {
  const { push, workloads } = bookinfoPush();
  const proxy = bookinfoProxy(workloads);
  assert.deepEqual(generate(push, proxy, TYPE.CLUSTER, ['PassthroughCluster', 'nope']).map((c) => c.name), ['PassthroughCluster']);
  assert.deepEqual(generate(push, proxy, TYPE.LISTENER, ['virtualOutbound']).map((c) => c.name), ['virtualOutbound']);
  assert.deepEqual(generate(push, proxy, TYPE.ROUTE, ['9080']).map((c) => c.name), ['9080']);
  assert.deepEqual(generate(push, proxy, TYPE.SECRET), []);
});
