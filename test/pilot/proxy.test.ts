import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidProxyError, parseProxy } from '../../src/pilot/proxy.ts';

test('parseProxy reads an Istio sidecar id and its metadata', () => {
  const p = parseProxy({
    id: 'sidecar~127.0.1.5~reviews-v1-abc.bookinfo~bookinfo.svc.cluster.local',
    metadata: { LABELS: { app: 'reviews', version: 'v1' }, SERVICE_ACCOUNT: 'bookinfo-reviews', ISTIO_VERSION: '1.24.0' },
    locality: { region: 'r1', zone: 'z1', sub_zone: 's1' },
  });
  assert.equal(p.type, 'sidecar');
  assert.deepEqual(p.ipAddresses, ['127.0.1.5']);
  assert.equal(p.workloadName, 'reviews-v1-abc');
  assert.equal(p.namespace, 'bookinfo');
  assert.equal(p.dnsDomain, 'bookinfo.svc.cluster.local');
  assert.deepEqual(p.labels, { app: 'reviews', version: 'v1' });
  assert.equal(p.serviceAccount, 'bookinfo-reviews');
  assert.equal(p.generator, undefined);
  assert.deepEqual(p.locality, { region: 'r1', zone: 'z1', subzone: 's1' });
  assert.equal(p.metadata.ISTIO_VERSION, '1.24.0');
});

test('metadata wins over the id: NAMESPACE, INSTANCE_IPS, WORKLOAD_NAME, GENERATOR, LABELS as JSON text', () => {
  const p = parseProxy({
    id: 'router~10.1.1.1~gw-1.istio-system~istio-system.svc.cluster.local',
    metadata: { NAMESPACE: 'edge', INSTANCE_IPS: '10.1.1.1, 10.1.1.2', WORKLOAD_NAME: 'ingress', GENERATOR: 'grpc', LABELS: '{"istio":"ingressgateway"}' },
  });
  assert.equal(p.type, 'router');
  assert.equal(p.namespace, 'edge');
  assert.deepEqual(p.ipAddresses, ['10.1.1.1', '10.1.1.2']);
  assert.equal(p.workloadName, 'ingress');
  assert.equal(p.generator, 'grpc');
  assert.deepEqual(p.labels, { istio: 'ingressgateway' });
  assert.deepEqual(p.locality, {});
});

test('invalid node ids are rejected with a message naming the problem', () => {
  assert.throws(() => parseProxy({ id: '' }), (e: unknown) => e instanceof InvalidProxyError && /empty/.test(e.message));
  assert.throws(() => parseProxy({ id: 'sidecar~1.2.3.4~pod.ns' }), /3 "~"-separated parts, expected 4/);
  assert.throws(() => parseProxy({ id: 'waypoint~1.2.3.4~pod.ns~ns.svc.cluster.local' }), /unknown proxy type "waypoint"/);
  assert.throws(() => parseProxy({ id: 'sidecar~~pod.ns~ns.svc.cluster.local' }), /IP address part is empty/);
  assert.throws(() => parseProxy({ id: 'sidecar~1.2.3.4~pod~' }), /no namespace/);
});
