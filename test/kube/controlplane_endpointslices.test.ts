/**
 * EndpointSlice → endpoints, as the Kubernetes registry source reads them (no API server needed:
 * the objects are shaped as the EndpointSlice controller writes them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sliceEndpoints } from '../../src/kube/registry/endpointslices.ts';
import type { KubeObject } from '../../src/kube/informers/informer.ts';

const pods: Record<string, KubeObject> = {
  'default/reviews-v1': { metadata: { name: 'reviews-v1', namespace: 'default', labels: { app: 'reviews', version: 'v1', 'security.istio.io/tlsMode': 'istio' } }, spec: { serviceAccountName: 'bookinfo-reviews', nodeName: 'n1' } },
  'default/reviews-v2': { metadata: { name: 'reviews-v2', namespace: 'default', labels: { app: 'reviews', version: 'v2', 'topology.istio.io/locality': 'us.us-1.rack-2' } }, spec: { nodeName: 'n1' } },
};
const nodes: Record<string, KubeObject> = {
  n1: { metadata: { name: 'n1', labels: { 'topology.kubernetes.io/region': 'eu', 'topology.kubernetes.io/zone': 'eu-1', 'topology.istio.io/subzone': 'rack-1' } } },
};
const lookup = { pod: (ns: string, name: string) => pods[`${ns}/${name}`], node: (name: string) => nodes[name] };

const slice = (addressType: string): KubeObject => ({
  metadata: { name: 'reviews-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'reviews' } },
  addressType,
  ports: [{ name: 'http', port: 9080, protocol: 'TCP' }],
  endpoints: [
    { addresses: ['10.0.0.1'], conditions: { ready: true }, nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'reviews-v1' } },
    { addresses: ['10.0.0.2'], conditions: { ready: false }, nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'reviews-v2' } },
    { addresses: ['10.0.0.3'], zone: 'eu-2' },
  ],
});

test('each address of a slice is an endpoint of its Service with the Pod labels, service account and locality', () => {
  const eps = sliceEndpoints(slice('IPv4'), 'cluster.local', lookup);
  assert.deepEqual(
    eps.map((e) => [e.service, e.servicePortName, e.address, e.port, e.healthy, e.serviceAccount, e.labels.version, e.locality, e.tlsModeIstio, e.workloadName]),
    [
      ['reviews.default.svc.cluster.local', 'http', '10.0.0.1', 9080, true, 'bookinfo-reviews', 'v1', { region: 'eu', zone: 'eu-1', subzone: 'rack-1' }, true, 'reviews-v1'],
      // Not ready: unhealthy. The pod's own locality label wins over its node's; no SA named is "default".
      ['reviews.default.svc.cluster.local', 'http', '10.0.0.2', 9080, false, 'default', 'v2', { region: 'us', zone: 'us-1', subzone: 'rack-2' }, false, 'reviews-v2'],
      // No pod behind it (a hand-written slice): the slice's zone, no labels, no identity.
      ['reviews.default.svc.cluster.local', 'http', '10.0.0.3', 9080, true, undefined, undefined, { zone: 'eu-2' }, false, undefined],
    ],
  );
});

test('FQDN slices and slices without a service label give no endpoints', () => {
  assert.deepEqual(sliceEndpoints(slice('FQDN'), 'cluster.local', lookup), []);
  const orphan = slice('IPv4');
  orphan.metadata.labels = {};
  assert.deepEqual(sliceEndpoints(orphan, 'cluster.local', lookup), []);
});
