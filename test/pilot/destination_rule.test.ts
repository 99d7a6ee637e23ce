import { test } from 'node:test';
import assert from 'node:assert/strict';
import { destinationRuleFor, trafficPolicyFor } from '../../src/pilot/destination_rule.ts';
import { proxyFor, pushFromYaml } from './fixtures.ts';

const service = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: svcns}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---`;
const dr = (name: string, ns: string, host: string, lb: string, extra = '') => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: ${ns}}
spec:
  host: "${host}"
  trafficPolicy: {loadBalancer: {simple: ${lb}}}
${extra}
---`;
const HOST = 'reviews.svcns.svc.cluster.local';
const lbOf = (push: ReturnType<typeof pushFromYaml>, ns: string) => destinationRuleFor(push, proxyFor({ namespace: ns }), HOST)?.trafficPolicy?.loadBalancer?.simple;

test('lookup order: proxy namespace, then service namespace, then root namespace', () => {
  const push = pushFromYaml(service + dr('client', 'client', HOST, 'RANDOM') + dr('owner', 'svcns', 'reviews', 'ROUND_ROBIN') + dr('root', 'istio-system', HOST, 'LEAST_REQUEST'));
  assert.equal(lbOf(push, 'client'), 'RANDOM');
  assert.equal(lbOf(push, 'other'), 'ROUND_ROBIN');
  const rootOnly = pushFromYaml(service + dr('root', 'istio-system', HOST, 'LEAST_REQUEST'));
  assert.equal(lbOf(rootOnly, 'other'), 'LEAST_REQUEST');
  assert.equal(destinationRuleFor(pushFromYaml(service), proxyFor({ namespace: 'x' }), HOST), undefined);
});

test('exportTo hides a service-namespace rule from other namespaces', () => {
  const push = pushFromYaml(service + dr('owner', 'svcns', 'reviews', 'ROUND_ROBIN', '  exportTo: ["."]') + dr('root', 'istio-system', HOST, 'RANDOM'));
  assert.equal(lbOf(push, 'svcns'), 'ROUND_ROBIN');
  assert.equal(lbOf(push, 'other'), 'RANDOM');
});

test('the most specific host wins; wildcards apply when nothing exact does', () => {
  const push = pushFromYaml(service + dr('wild', 'client', '*.svcns.svc.cluster.local', 'RANDOM') + dr('all', 'client', '*', 'LEAST_REQUEST') + dr('exact', 'client', HOST, 'ROUND_ROBIN'));
  assert.equal(lbOf(push, 'client'), 'ROUND_ROBIN');
  const noExact = pushFromYaml(service + dr('wild', 'client', '*.svcns.svc.cluster.local', 'RANDOM') + dr('all', 'client', '*', 'LEAST_REQUEST'));
  assert.equal(lbOf(noExact, 'client'), 'RANDOM');
  assert.equal(destinationRuleFor(noExact, proxyFor({ namespace: 'client' }), 'other.ns.svc.cluster.local')?.trafficPolicy?.loadBalancer?.simple, 'LEAST_REQUEST');
});

test('rules for the same host merge: first traffic policy wins, subsets are unioned', () => {
  const push = pushFromYaml(
    service +
      dr('a', 'svcns', 'reviews', 'RANDOM', '  subsets: [{name: v1, labels: {version: v1}}]') +
      dr('b', 'svcns', 'reviews', 'ROUND_ROBIN', '  subsets: [{name: v1, labels: {version: other}}, {name: v2, labels: {version: v2}}]'),
  );
  const r = destinationRuleFor(push, proxyFor({ namespace: 'svcns' }), HOST)!;
  assert.equal(r.trafficPolicy?.loadBalancer?.simple, 'RANDOM');
  assert.deepEqual(r.subsets.map((s) => [s.name, s.labels?.version]), [['v1', 'v1'], ['v2', 'v2']]);
});

test('trafficPolicyFor: port-level settings and subset policy override the rule policy', () => {
  const push = pushFromYaml(
    service +
      dr('a', 'svcns', 'reviews', 'RANDOM', `  subsets:
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      connectionPool: {tcp: {maxConnections: 7}}
      portLevelSettings: [{port: {number: 9080}, loadBalancer: {simple: LEAST_REQUEST}}]`),
  );
  const r = destinationRuleFor(push, proxyFor({ namespace: 'svcns' }), HOST)!;
  assert.equal(trafficPolicyFor(r, 9080).loadBalancer?.simple, 'RANDOM');
  const v2 = trafficPolicyFor(r, 9080, 'v2');
  assert.equal(v2.loadBalancer?.simple, 'LEAST_REQUEST');
  assert.equal(v2.connectionPool?.tcp?.maxConnections, 7);
  assert.equal(trafficPolicyFor(r, 9081, 'v2').loadBalancer?.simple, 'RANDOM');
});
