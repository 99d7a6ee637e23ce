/**
 * EndpointSlice → endpoints, as the Kubernetes registry source reads them (no API server needed:
 * the objects are shaped as the EndpointSlice controller writes them): one address in two
 * slices, terminating endpoints, IPv6 and dual-stack Services, unnamed ports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointsOf, sliceEndpoints } from '../../src/kube/registry/endpointslices.ts';
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

const svc = (ipFamilies?: string[]): KubeObject => ({ metadata: { name: 'reviews', namespace: 'default' }, spec: ipFamilies ? { ipFamilies } : {} });
const ep = (address: string, ready: boolean, extra: Record<string, unknown> = {}) => ({ addresses: [address], conditions: { ready }, nodeName: 'n1', targetRef: { kind: 'Pod', namespace: 'default', name: 'reviews-v1' }, ...extra });
const sliceOf = (name: string, addressType: string, endpoints: unknown[], ports: unknown[] = [{ name: 'http', port: 9080, protocol: 'TCP' }]): KubeObject => ({
  metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': 'reviews' } },
  addressType,
  ports,
  endpoints,
});
const summary = (eps: ReturnType<typeof endpointsOf>) => eps.map((e) => `${e.address}:${e.port} ${e.servicePortName || '(unnamed)'} ${e.healthy ? 'healthy' : 'unhealthy'}`).sort();

test('an address in two slices (mid-move) is one endpoint, and the ready copy wins whichever slice comes first', () => {
  const stale = sliceOf('reviews-old', 'IPv4', [ep('10.0.0.1', false)]);
  const fresh = sliceOf('reviews-new', 'IPv4', [ep('10.0.0.1', true)]);
  for (const order of [[stale, fresh], [fresh, stale]]) {
    assert.deepEqual(summary(endpointsOf(order, () => svc(['IPv4']), 'cluster.local', lookup)), ['10.0.0.1:9080 http healthy']);
  }
});

test('a terminating endpoint that still serves is not ready, so unhealthy (Istio\'s default)', () => {
  const s = sliceOf('reviews-abc', 'IPv4', [ep('10.0.0.1', false, { conditions: { ready: false, serving: true, terminating: true } })]);
  assert.deepEqual(summary(endpointsOf([s], () => svc(['IPv4']), 'cluster.local', lookup)), ['10.0.0.1:9080 http unhealthy']);
});

test('IPv6 slices give IPv6 endpoints; a dual-stack Service keeps only its primary family', () => {
  const v4 = sliceOf('reviews-v4', 'IPv4', [ep('10.0.0.1', true)]);
  const v6 = sliceOf('reviews-v6', 'IPv6', [ep('fd00::1', true)]);
  assert.deepEqual(summary(endpointsOf([v6], () => svc(['IPv6']), 'cluster.local', lookup)), ['fd00::1:9080 http healthy']);
  assert.deepEqual(summary(endpointsOf([v4, v6], () => svc(['IPv4', 'IPv6']), 'cluster.local', lookup)), ['10.0.0.1:9080 http healthy']);
  assert.deepEqual(summary(endpointsOf([v4, v6], () => svc(['IPv6', 'IPv4']), 'cluster.local', lookup)), ['fd00::1:9080 http healthy']);
});

test('a slice port with no name (a single-port Service) gives endpoints of the unnamed service port', () => {
  for (const port of [{ port: 9080, protocol: 'TCP' }, { name: null, port: 9080 }, { name: '', port: 9080 }]) {
    const s = sliceOf('reviews-abc', 'IPv4', [ep('10.0.0.1', true)], [port]);
    assert.deepEqual(summary(endpointsOf([s], () => svc(['IPv4']), 'cluster.local', lookup)), ['10.0.0.1:9080 (unnamed) healthy']);
  }
});
