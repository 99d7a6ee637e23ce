/**
 * What `tsmesh describe` prints for given facts, line for line as istioctl x describe prints
 * them (the cases of Istio's "Understand your Mesh with Istioctl Describe" page and its tests).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DescribedDestinationRule, DescribedVirtualService, PodDescription } from '../../src/controlplane/debug_describe.ts';
import { formatDestinationRule, formatPeerAuthentication, formatPod, formatServiceDescription, formatVirtualService, renderMatch } from '../../src/cli/describe_format.ts';

const REVIEWS = 'reviews.default.svc.cluster.local';
const DR_V1: DescribedDestinationRule = { name: 'reviews', namespace: 'default', host: 'reviews', matchingSubsets: ['v1'], nonMatchingSubsets: ['v2', 'v3'], trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } };

function vs(http: unknown[], name = 'reviews'): DescribedVirtualService {
  return { name, namespace: 'default', spec: { hosts: ['reviews'], http: http as never } };
}
const to = (subset: string, weight?: number) => ({ destination: { host: 'reviews', subset }, ...(weight ? { weight } : {}) });

test('DestinationRule: matching and non-matching subsets, TLS mode', () => {
  assert.deepEqual(formatDestinationRule(DR_V1, 'default'), [
    'DestinationRule: reviews for "reviews"',
    '   Matching subsets: v1',
    '      (Non-matching subsets v2,v3)',
    '   Traffic Policy TLS Mode: ISTIO_MUTUAL',
  ]);
});

test('DestinationRule: no subset matches, policies and port-level settings, another namespace', () => {
  const dr: DescribedDestinationRule = {
    name: 'productpage',
    namespace: 'other',
    host: 'productpage',
    matchingSubsets: [],
    nonMatchingSubsets: ['v1'],
    trafficPolicy: {
      loadBalancer: { simple: 'LEAST_REQUEST' },
      connectionPool: { tcp: { maxConnections: 10 } },
      outlierDetection: { minHealthPercent: 10 },
      tls: { mode: 'ISTIO_MUTUAL' },
      portLevelSettings: [{ port: { number: 8080 }, tls: { mode: 'DISABLE' }, loadBalancer: { simple: 'LEAST_REQUEST' }, connectionPool: {}, outlierDetection: {} }],
    },
  };
  assert.deepEqual(formatDestinationRule(dr, 'default'), [
    'DestinationRule: productpage.other for "productpage"',
    '   WARNING POD DOES NOT MATCH ANY SUBSETS.  (Non matching subsets v1)',
    '   Matching subsets: ',
    '      (Non-matching subsets v1)',
    '   Traffic Policy TLS Mode: ISTIO_MUTUAL',
    '   Policies: load balancer/connection pool/outlier detection',
    '   Port Level Settings:',
    '    8080:',
    '      TLS Mode: DISABLE',
    '      Policies: load balancer/connection pool/outlier detection',
  ]);
  assert.deepEqual(formatDestinationRule({ ...dr, trafficPolicy: undefined, matchingSubsets: [], nonMatchingSubsets: [] }, 'other'), ['DestinationRule: productpage for "productpage"', '   No Traffic Policy']);
});

test('VirtualService: the weight of the route that reaches the pod', () => {
  assert.deepEqual(formatVirtualService(vs([{ route: [to('v1', 50), to('v3', 50)] }]), REVIEWS, DR_V1, 'default'), ['VirtualService: reviews', '   Route to host "reviews" subset "v1" with weight 50%']);
});

test('VirtualService: one route to the pod without weights says how many HTTP routes', () => {
  assert.deepEqual(formatVirtualService(vs([{ route: [to('v1')] }]), REVIEWS, DR_V1, 'default'), ['VirtualService: reviews', '   1 HTTP route(s)']);
});

test('VirtualService: no route reaches the pod (a v2 pod under all-v1, and the jason rule for v1)', () => {
  const v2: DescribedDestinationRule = { ...DR_V1, matchingSubsets: ['v2'], nonMatchingSubsets: ['v1', 'v3'] };
  assert.deepEqual(formatVirtualService(vs([{ route: [to('v1')] }]), REVIEWS, v2, 'default'), [
    'VirtualService: reviews',
    '   WARNING: No destinations match pod subsets (checked 1 HTTP routes)',
    '      Route to non-matching subset v1 for (everything)',
  ]);
  const jason = vs([{ match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [to('v2')] }, { route: [to('v3')] }]);
  assert.deepEqual(formatVirtualService(jason, REVIEWS, DR_V1, 'default'), [
    'VirtualService: reviews',
    '   WARNING: No destinations match pod subsets (checked 2 HTTP routes)',
    '      Route to non-matching subset v2 for (Match:  when headers are end-user=jason)',
    '      Route to non-matching subset v3 for (everything)',
  ]);
});

test('VirtualService: a subset without a DestinationRule, and an unknown subset', () => {
  assert.deepEqual(formatVirtualService(vs([{ route: [to('v1')] }]), REVIEWS, undefined, 'default'), [
    'VirtualService: reviews',
    '   WARNING: No destinations match pod subsets (checked 1 HTTP routes)',
    '      Warning: Route to subset v1 but NO DESTINATION RULE defining subsets!',
  ]);
  assert.deepEqual(formatVirtualService(vs([{ route: [to('v9')] }]), REVIEWS, DR_V1, 'default')[2], '      Warning: Route to UNKNOWN subset v9; check DestinationRule reviews');
});

test('VirtualService: matches of a gateway route, and other hosts with their weights', () => {
  const bookinfo = vs(
    [
      {
        match: [{ uri: { exact: '/productpage' } }, { uri: { prefix: '/static' } }],
        route: [{ destination: { host: 'productpage', port: { number: 9080 } } }],
      },
    ],
    'bookinfo',
  );
  assert.deepEqual(formatVirtualService(bookinfo, 'productpage.default.svc.cluster.local', undefined, 'default'), ['VirtualService: bookinfo', '   Match: /productpage, Match: /static*']);
  const split = vs([{ match: [{ uri: { prefix: '/prefix' } }], route: [{ destination: { host: 'productpage' }, weight: 30 }, { destination: { host: 'productpage2' }, weight: 70 }] }], 'bookinfo');
  assert.deepEqual(formatVirtualService(split, 'productpage.default.svc.cluster.local', undefined, 'default'), [
    'VirtualService: bookinfo',
    '   Route to host "productpage" with weight 30%',
    '   Route to host "productpage2" with weight 70%',
    '   Match: /prefix*',
  ]);
  assert.equal(renderMatch({ uri: { prefix: '/a' }, ignoreUriCase: true }), 'Match: /a* uncased');
});

test('PeerAuthentication: effective mode, port-level modes, the policies applied', () => {
  assert.deepEqual(formatPeerAuthentication({ mode: 'PERMISSIVE', perPort: [], applied: [] }), ['Effective PeerAuthentication:', '   Workload mTLS mode: PERMISSIVE']);
  assert.deepEqual(formatPeerAuthentication({ mode: 'STRICT', perPort: [{ port: 9080, mode: 'DISABLE' }], applied: ['default.istio-system', 'reviews.default'] }), [
    'Effective PeerAuthentication:',
    '   Workload mTLS mode: STRICT',
    '   Port Level mTLS mode:',
    '      9080: DISABLE',
    'Applied PeerAuthentication:',
    '   default.istio-system, reviews.default',
  ]);
});

const POD: PodDescription = {
  pod: { name: 'reviews-v1-1', namespace: 'default', labels: { app: 'reviews', version: 'v1' }, meshed: true, revision: 'default', ports: [{ port: 9080, protocol: 'TCP', container: 'reviews' }, { port: 15090, protocol: 'TCP', container: 'istio-proxy' }] },
  services: [{ name: 'reviews', namespace: 'default', hostname: REVIEWS, ports: [{ name: 'http', port: 9080, protocol: 'HTTP', targetPort: 9080, destinationRule: DR_V1, virtualServices: [], rbacPolicies: ['ns[default]-policy[viewer]-rule[0]'] }] }],
  peerAuthentication: { mode: 'STRICT', perPort: [], applied: ['default.default'] },
  gatewayProxies: 1,
  ingress: [],
};

test('pod: the whole description, in istioctl x describe pod order', () => {
  assert.deepEqual(formatPod(POD, { namespace: 'default' }), {
    out: [
      'Pod: reviews-v1-1',
      '   Pod Revision: default',
      '   Pod Ports: 9080 (reviews), 15090 (istio-proxy)',
      '--------------------',
      'Service: reviews',
      '   Port: http 9080/HTTP targets pod port 9080',
      'DestinationRule: reviews for "reviews"',
      '   Matching subsets: v1',
      '      (Non-matching subsets v2,v3)',
      '   Traffic Policy TLS Mode: ISTIO_MUTUAL',
      'RBAC policies: ns[default]-policy[viewer]-rule[0]',
      '--------------------',
      'Effective PeerAuthentication:',
      '   Workload mTLS mode: STRICT',
      'Applied PeerAuthentication:',
      '   default.default',
    ],
  });
});

test('pod: without a sidecar it warns and stops, unless --ignoreUnmeshed; without gateways it says so', () => {
  const bare: PodDescription = { ...POD, pod: { ...POD.pod, meshed: false, revision: '', ports: [POD.pod.ports[0]!] }, gatewayProxies: 0 };
  const r = formatPod(bare, { namespace: 'default' });
  assert.ok(r.out.includes('WARNING: reviews-v1-1 is not part of mesh; no Istio sidecar'), r.out.join('\n'));
  assert.match(r.error ?? '', /no sidecar/);
  const ignored = formatPod(bare, { namespace: 'default', ignoreUnmeshed: true });
  assert.equal(ignored.error, undefined);
  assert.ok(!ignored.out.some((l) => l.startsWith('WARNING')), ignored.out.join('\n'));
  assert.equal(ignored.out.at(-1), 'Skipping Gateway information (no ingress gateway pods)');
});

test('pod: labels Istio telemetry needs are suggested, services missing are warned, another namespace is named', () => {
  const r = formatPod({ ...POD, pod: { ...POD.pod, namespace: 'foo', labels: {} }, services: [] }, { namespace: 'default' });
  assert.equal(r.out[0], 'Pod: reviews-v1-1.foo');
  assert.ok(r.out.some((l) => l.startsWith('Suggestion: add required service name label')));
  assert.ok(r.out.some((l) => l.startsWith('Suggestion: add required service revision label')));
  assert.ok(r.out.some((l) => l.startsWith('Warning: No Kubernetes Services select pod reviews-v1-1.foo')));
});

test('service: no pods, no Istio pods, and one exposed on the ingress gateway', () => {
  const base = { service: { name: 'x', namespace: 'default', hostname: 'x.default.svc.cluster.local' }, meshedPods: [], gatewayProxies: 1, ingress: [] };
  assert.deepEqual(formatServiceDescription({ ...base, pods: 0 }, { namespace: 'default' }), ['Service "x" has no pods.']);
  assert.equal(formatServiceDescription({ ...base, pods: 2 }, { namespace: 'default' })[0], 'Service "x" has no Istio pods.  (2 pods in service).');
  const pp = 'productpage.default.svc.cluster.local';
  const out = formatServiceDescription(
    {
      ...base,
      pods: 1,
      meshedPods: ['productpage-v1-1'],
      described: { name: 'productpage', namespace: 'default', hostname: pp, ports: [{ name: 'http', port: 9080, protocol: 'HTTP', targetPort: 9080, virtualServices: [], rbacPolicies: [] }] },
      ingress: [{ urls: ['http://127.0.0.1:8080'], gateway: 'default/bookinfo-gateway', hostname: pp, virtualService: { name: 'bookinfo', namespace: 'default', spec: { http: [{ match: [{ uri: { exact: '/productpage' } }], route: [{ destination: { host: 'productpage' } }] }] } } }],
    },
    { namespace: 'default' },
  );
  assert.deepEqual(out, ['Service: productpage', '   Port: http 9080/HTTP targets pod port 9080', '--------------------', 'Exposed on Ingress Gateway http://127.0.0.1:8080', 'VirtualService: bookinfo', '   Match: /productpage']);
});
