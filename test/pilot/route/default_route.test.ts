import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildInboundRouteConfiguration, buildRouteConfiguration } from '../../../src/pilot/route/index.ts';
import { bookinfoServices, kubeService, mesh, push, sidecar, vhost, yamlConfigs } from './fixtures.ts';

test('service without VirtualService gets Istio default route with default retry policy', () => {
  const rc = buildRouteConfiguration(push([]), sidecar(), '9080')!;
  assert.equal(rc.name, '9080');
  assert.equal(rc.validate_clusters, false);
  const vh = vhost(rc, 'reviews.default.svc.cluster.local:9080');
  assert.equal(vh.routes.length, 1);
  const r = vh.routes[0];
  assert.equal(r.name, 'default');
  assert.deepEqual(r.match, { prefix: '/' });
  assert.equal(r.route.cluster, 'outbound|9080||reviews.default.svc.cluster.local');
  assert.equal(r.route.timeout, '0s');
  assert.equal(r.route.max_grpc_timeout, '0s');
  assert.deepEqual(r.decorator, { operation: 'reviews.default.svc.cluster.local:9080/*' });
  assert.deepEqual(r.route.retry_policy, {
    retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
    num_retries: 2,
    retriable_status_codes: [503],
    retry_host_predicate: [
      {
        name: 'envoy.retry_host_predicates.previous_hosts',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' },
      },
    ],
    host_selection_retry_max_attempts: 5,
  });
});

test('domains: same-namespace caller gets short name, name.ns, name.ns.svc, FQDN, VIP, each with :port', () => {
  const vh = vhost(buildRouteConfiguration(push([]), sidecar('default'), '9080'), 'reviews.default.svc.cluster.local:9080');
  assert.deepEqual(
    vh.domains,
    [
      '10.0.0.14', '10.0.0.14:9080', 'reviews', 'reviews.default', 'reviews.default.svc', 'reviews.default.svc.cluster.local',
      'reviews.default.svc.cluster.local:9080', 'reviews.default.svc:9080', 'reviews.default:9080', 'reviews:9080',
    ].sort(),
  );
});

test('domains: caller in another namespace gets no short name', () => {
  const vh = vhost(buildRouteConfiguration(push([]), sidecar('other'), '9080'), 'reviews.default.svc.cluster.local:9080');
  assert.ok(!vh.domains.includes('reviews'));
  assert.ok(!vh.domains.includes('reviews:9080'));
  assert.ok(vh.domains.includes('reviews.default'));
  assert.ok(vh.domains.includes('reviews.default.svc:9080'));
});

test('only services with an HTTP port equal to the route name are included', () => {
  const services = [
    ...bookinfoServices(),
    kubeService('mysql', 'default', [[9080, 'tcp', 'TCP']], '10.0.0.20'),
    kubeService('httpbin', 'default', [[8000, 'http', 'HTTP']], '10.0.0.21'),
  ];
  const rc = buildRouteConfiguration(push([], services), sidecar(), '9080')!;
  const names = rc.virtual_hosts.map((v: any) => v.name);
  assert.deepEqual(names, [
    'details.default.svc.cluster.local:9080',
    'productpage.default.svc.cluster.local:9080',
    'ratings.default.svc.cluster.local:9080',
    'reviews.default.svc.cluster.local:9080',
    'allow_any',
  ]);
  const rc8000 = buildRouteConfiguration(push([], services), sidecar(), '8000')!;
  assert.deepEqual(rc8000.virtual_hosts.map((v: any) => v.name), ['httpbin.default.svc.cluster.local:8000', 'allow_any']);
});

test('ALLOW_ANY adds allow_any vhost to PassthroughCluster; REGISTRY_ONLY adds block_all 502', () => {
  const allow = vhost(buildRouteConfiguration(push([]), sidecar(), '9080'), 'allow_any');
  assert.deepEqual(allow.domains, ['*']);
  assert.equal(allow.routes[0].route.cluster, 'PassthroughCluster');
  assert.equal(allow.routes[0].route.timeout, '0s');
  const rc = buildRouteConfiguration(push([], bookinfoServices(), mesh('REGISTRY_ONLY')), sidecar(), '9080')!;
  assert.equal(rc.virtual_hosts.some((v: any) => v.name === 'allow_any'), false);
  const block = vhost(rc, 'block_all');
  assert.deepEqual(block.domains, ['*']);
  assert.deepEqual(block.routes[0].direct_response, { status: 502 });
});

test('Sidecar outboundTrafficPolicy overrides the mesh default', () => {
  const cfg = yamlConfigs(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`);
  const rc = buildRouteConfiguration(push(cfg), sidecar(), '9080')!;
  assert.ok(rc.virtual_hosts.some((v: any) => v.name === 'block_all'));
});

test('no domain appears in two virtual hosts (Envoy rejects duplicates)', () => {
  // Two services sharing a VIP, and a ServiceEntry-like host equal to a kube alt name.
  const services = [
    kubeService('a', 'default', [[9080, 'http', 'HTTP']], '10.0.0.50'),
    kubeService('b', 'default', [[9080, 'http', 'HTTP']], '10.0.0.50'),
    { ...kubeService('x', 'default', [[9080, 'http', 'HTTP']], '10.0.0.51'), hostname: 'a.default', name: 'a.default', registry: 'serviceentry' },
  ];
  const rc = buildRouteConfiguration(push([], services), sidecar(), '9080')!;
  const all = rc.virtual_hosts.flatMap((v: any) => v.domains);
  assert.equal(new Set(all).size, all.length);
  for (const v of rc.virtual_hosts) assert.deepEqual(v.domains, [...v.domains].sort());
  // The earlier virtual host (a.default.svc.cluster.local) keeps the shared VIP.
  assert.ok(vhost(rc, 'a.default.svc.cluster.local:9080').domains.includes('10.0.0.50'));
  assert.ok(!vhost(rc, 'b.default.svc.cluster.local:9080').domains.includes('10.0.0.50'));
});

test('services not exported to the proxy namespace are left out', () => {
  const services = [...bookinfoServices(), kubeService('secret', 'team', [[9080, 'http', 'HTTP']], '10.0.0.60', { exportTo: ['.'] })];
  const fromDefault = buildRouteConfiguration(push([], services), sidecar('default'), '9080')!;
  assert.ok(!fromDefault.virtual_hosts.some((v: any) => v.name.startsWith('secret.')));
  const fromTeam = buildRouteConfiguration(push([], services), sidecar('team'), '9080')!;
  assert.ok(fromTeam.virtual_hosts.some((v: any) => v.name === 'secret.team.svc.cluster.local:9080'));
});

test('inbound route configuration: one * vhost to the inbound cluster without timeout', () => {
  const rc = buildInboundRouteConfiguration(sidecar(), 9080, 'inbound|9080||', 'reviews.default.svc.cluster.local');
  assert.equal(rc.virtual_hosts.length, 1);
  const vh = rc.virtual_hosts[0];
  assert.equal(vh.name, 'inbound|http|9080');
  assert.deepEqual(vh.domains, ['*']);
  assert.equal(vh.routes[0].route.cluster, 'inbound|9080||');
  assert.equal(vh.routes[0].route.timeout, '0s');
  assert.equal(vh.routes[0].decorator.operation, 'reviews.default.svc.cluster.local:9080/*');
});

test('proxyless gRPC: host:port names one vhost, no catch-all, max_stream_duration timeouts', () => {
  const services = [...bookinfoServices(), kubeService('echo', 'default', [[7070, 'grpc', 'GRPC']], '10.0.0.70')];
  const grpc = sidecar('default', { app: 'client' }, { generator: 'grpc' });
  for (const name of ['echo.default.svc.cluster.local:7070', 'echo:7070', 'outbound|7070||echo.default.svc.cluster.local']) {
    const rc = buildRouteConfiguration(push([], services), grpc, name)!;
    assert.equal(rc.name, name);
    assert.equal(rc.virtual_hosts.length, 1, name);
    const vh = rc.virtual_hosts[0];
    assert.equal(vh.name, 'echo.default.svc.cluster.local:7070');
    assert.ok(vh.domains.includes('echo.default.svc.cluster.local:7070'));
    assert.ok(vh.domains.includes('echo:7070'));
    const r = vh.routes[0];
    assert.equal(r.route.cluster, 'outbound|7070||echo.default.svc.cluster.local');
    assert.deepEqual(r.route.max_stream_duration, { max_stream_duration: '0s' });
    assert.equal(r.route.max_grpc_timeout, undefined);
  }
  assert.equal(buildRouteConfiguration(push([], services), grpc, 'nope.default.svc.cluster.local:7070'), undefined);
  assert.equal(buildRouteConfiguration(push([], services), grpc, 'echo.default.svc.cluster.local:7071'), undefined);
});

test('unknown route names give undefined', () => {
  assert.equal(buildRouteConfiguration(push([]), sidecar(), 'bogus'), undefined);
});

test('same input gives identical output (determinism)', () => {
  const a = JSON.stringify(buildRouteConfiguration(push([]), sidecar(), '9080'));
  const b = JSON.stringify(buildRouteConfiguration(push([], [...bookinfoServices()].reverse()), sidecar(), '9080'));
  assert.equal(a, b);
});
