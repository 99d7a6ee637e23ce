/**
 * A workload's locality from its labels, as Istio reads a pod's: both ends of locality load
 * balancing need it — the endpoint (auto-registration) and the calling proxy (its node) — or
 * failover and distribute never apply to pods that only carry labels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AutoRegistration } from '../../src/registry/autoregistration.ts';
import { localityFromLabels } from '../../src/registry/locality.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';

test('localityFromLabels reads topology.istio.io/locality (dots), istio-locality, and the topology labels', () => {
  assert.deepEqual(localityFromLabels({ 'topology.istio.io/locality': 'us-east.us-east-1a.rack7' }), { region: 'us-east', zone: 'us-east-1a', subzone: 'rack7' });
  assert.deepEqual(localityFromLabels({ 'istio-locality': 'eu.eu-1' }), { region: 'eu', zone: 'eu-1' });
  assert.deepEqual(localityFromLabels({ 'topology.kubernetes.io/region': 'r', 'topology.kubernetes.io/zone': 'z', 'topology.istio.io/subzone': 's' }), { region: 'r', zone: 'z', subzone: 's' });
  assert.deepEqual(localityFromLabels({ app: 'x' }), {});
});

test('an auto-registered workload without a locality takes its labels\', and an explicit one wins', () => {
  const reg = new AutoRegistration();
  reg.register({ name: 'a', namespace: 'default', ip: '10.0.0.1', labels: { app: 'echo', 'topology.istio.io/locality': 'us.a' } });
  reg.register({ name: 'b', namespace: 'default', ip: '10.0.0.2', labels: { app: 'echo', 'topology.istio.io/locality': 'us.a' }, locality: 'eu/b' });
  const byName = new Map(reg.workloads().map((w) => [w.name, w.locality]));
  assert.deepEqual(byName.get('a'), { region: 'us', zone: 'a' });
  assert.deepEqual(byName.get('b'), { region: 'eu', zone: 'b' });
});

test('a proxy whose node has no locality takes its labels\'; a node locality wins', () => {
  const node = (locality?: Record<string, string>) => ({
    id: 'sidecar~10.0.0.3~client.default~default.svc.cluster.local',
    metadata: { LABELS: { app: 'client', 'topology.kubernetes.io/region': 'us', 'topology.kubernetes.io/zone': 'b' } },
    ...(locality ? { locality } : {}),
  });
  assert.deepEqual(parseProxy(node() as any).locality, { region: 'us', zone: 'b' });
  assert.deepEqual(parseProxy(node({ region: 'eu', zone: 'c' }) as any).locality, { region: 'eu', zone: 'c' });
});
