/**
 * proxyShapeKey: sidecars that differ only in labels nothing selects share a shape (one
 * generation per push for all of them); a selector that picks one of them (Sidecar
 * workloadSelector, VirtualService sourceLabels, DestinationRule workloadSelector) gives it its
 * own shape, and then its output really differs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { proxyShapeKey } from '../../src/pilot/shape_key.ts';
import { TYPE } from '../../src/xds/types.ts';
import { proxyFor, pushFromYaml, workload } from './fixtures.ts';

const SERVICES = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a, namespace: default}
spec:
  hosts: [a.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.3.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b, namespace: default}
spec:
  hosts: [b.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.3.2}]
`;

const podA = workload('pod-a', '127.0.9.1', { app: 'client-a', 'pod-template-hash': 'x1' });
const podB = workload('pod-b', '127.0.9.2', { app: 'client-b', 'pod-template-hash': 'x2' });
const TYPES = [TYPE.CLUSTER, TYPE.ENDPOINT, TYPE.LISTENER, TYPE.ROUTE];

test('sidecars whose labels nothing selects share one shape per type, and get identical output', () => {
  const push = pushFromYaml(SERVICES);
  const [a, b] = [proxyFor(podA), proxyFor(podB)];
  for (const t of TYPES) {
    assert.equal(proxyShapeKey(a, t, push), proxyShapeKey(b, t, push), t);
    assert.deepEqual(generate(push, a, t), generate(push, b, t), t);
  }
});

test('a Sidecar selecting one workload by label gives it its own shape and its own output', () => {
  const push = pushFromYaml(`${SERVICES}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: only-a, namespace: default}
spec:
  workloadSelector: {labels: {app: client-a}}
  egress: [{hosts: ["./a.example.com"]}]
`);
  const [a, b] = [proxyFor(podA), proxyFor(podB)];
  assert.notEqual(proxyShapeKey(a, TYPE.CLUSTER, push), proxyShapeKey(b, TYPE.CLUSTER, push));
  const names = (p: typeof a) => generate(push, p, TYPE.CLUSTER).map((r) => r.name).filter((n) => n.startsWith('outbound|'));
  assert.ok(!names(a).some((n) => n.includes('b.example.com')), 'the Sidecar narrows client-a');
  assert.ok(names(b).some((n) => n.includes('b.example.com')), 'client-b sees everything');
});

test('VirtualService sourceLabels and DestinationRule workloadSelector split shapes only for the workloads they match', () => {
  const push = pushFromYaml(`${SERVICES}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: default}
spec:
  hosts: [a.example.com]
  http:
  - match: [{sourceLabels: {app: client-b}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: a.example.com}}]
  - route: [{destination: {host: a.example.com}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: b, namespace: default}
spec:
  host: b.example.com
  workloadSelector: {matchLabels: {app: client-c}}
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}
`);
  const podC = workload('pod-c', '127.0.9.3', { app: 'client-c' });
  const podD = workload('pod-d', '127.0.9.4', { app: 'client-d' });
  const [a, b, c, d] = [proxyFor(podA), proxyFor(podB), proxyFor(podC), proxyFor(podD)];
  assert.equal(proxyShapeKey(a, TYPE.ROUTE, push), proxyShapeKey(d, TYPE.ROUTE, push), 'neither is selected');
  assert.notEqual(proxyShapeKey(a, TYPE.ROUTE, push), proxyShapeKey(b, TYPE.ROUTE, push));
  assert.notDeepEqual(generate(push, a, TYPE.ROUTE), generate(push, b, TYPE.ROUTE), 'sourceLabels change client-b routes');
  assert.notEqual(proxyShapeKey(a, TYPE.CLUSTER, push), proxyShapeKey(c, TYPE.CLUSTER, push));
  assert.notDeepEqual(generate(push, a, TYPE.CLUSTER), generate(push, c, TYPE.CLUSTER), 'the selector-bound rule applies to client-c');
});
