/**
 * Istio's own Bookinfo networking samples, read unmodified from the shared copy, translate to
 * routes whose clusters all exist (subsets from destination-rule-all.yaml).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { Config } from '../../../src/api/types.ts';
import { destinationRuleFor } from '../../../src/pilot/destination_rule.ts';
import { buildRouteConfiguration } from '../../../src/pilot/route/index.ts';
import type { PushContext } from '../../../src/pilot/types.ts';
import type { EnvoyJson } from '../../../src/xds/types.ts';
import { ISTIO_BOOKINFO, istioFile, push, referencedClusters, sidecar, vhost } from './fixtures.ts';

/** Later files replace earlier objects of the same kind/namespace/name, as `kubectl apply` does. */
function apply(...files: string[]): Config[] {
  const byKey = new Map<string, Config>();
  for (const f of files) for (const c of istioFile(f)) byKey.set(`${c.kind}/${c.metadata.namespace}/${c.metadata.name}`, c);
  return [...byKey.values()];
}

/** The outbound clusters CDS would build: one per service port, one per subset. */
function knownClusters(p: PushContext): Set<string> {
  const out = new Set<string>();
  const proxy = sidecar();
  for (const s of p.services) {
    for (const port of s.ports) {
      out.add(`outbound|${port.port}||${s.hostname}`);
      for (const sub of destinationRuleFor(p, proxy, s.hostname)?.subsets ?? []) out.add(`outbound|${port.port}|${sub.name}|${s.hostname}`);
    }
  }
  return out;
}

const samples = readdirSync(ISTIO_BOOKINFO).filter((f) => /^virtual-service-.*\.yaml$/.test(f) || f === 'fault-injection-details-v1.yaml').sort();

test('the samples are there', () => {
  assert.ok(samples.length >= 10, `found ${samples.join(', ')}`);
});

for (const file of samples) {
  test(`${file}: every route references an existing cluster`, () => {
    const p = push(apply('destination-rule-all.yaml', file));
    const rc = buildRouteConfiguration(p, sidecar(), '9080')!;
    const known = knownClusters(p);
    const used = referencedClusters(rc).filter((c) => c !== 'PassthroughCluster');
    assert.ok(used.length >= 4, 'one route per Bookinfo service at least');
    for (const c of used) assert.ok(known.has(c), `${file}: ${c} is not a cluster`);
    // Each VirtualService in the file produced non-default routes for its host.
    for (const vs of istioFile(file).filter((c) => c.kind === 'VirtualService')) {
      const host = `${vs.spec.hosts[0]}.default.svc.cluster.local`;
      const routes = vhost(rc, `${host}:9080`).routes;
      assert.ok(routes.every((r: EnvoyJson) => r.name !== 'default'), `${file}: ${host} still has the default route`);
    }
  });
}

const reviews = (file: string) => vhost(buildRouteConfiguration(push(apply('destination-rule-all.yaml', file)), sidecar(), '9080'), 'reviews.default.svc.cluster.local:9080').routes;
const ratings = (file: string) => vhost(buildRouteConfiguration(push(apply('destination-rule-all.yaml', file)), sidecar(), '9080'), 'ratings.default.svc.cluster.local:9080').routes;

test('virtual-service-reviews-test-v2.yaml: end-user jason → v2, everyone else → v1', () => {
  const routes = reviews('virtual-service-reviews-test-v2.yaml');
  assert.equal(routes.length, 2);
  assert.deepEqual(routes[0].match, { prefix: '/', headers: [{ name: 'end-user', string_match: { exact: 'jason' } }] });
  assert.equal(routes[0].route.cluster, 'outbound|9080|v2|reviews.default.svc.cluster.local');
  assert.deepEqual(routes[1].match, { prefix: '/' });
  assert.equal(routes[1].route.cluster, 'outbound|9080|v1|reviews.default.svc.cluster.local');
});

test('virtual-service-reviews-80-20.yaml: weighted_clusters 80/20', () => {
  const [r] = reviews('virtual-service-reviews-80-20.yaml');
  assert.deepEqual(r.route.weighted_clusters.clusters.map((c: EnvoyJson) => [c.name, c.weight]), [
    ['outbound|9080|v1|reviews.default.svc.cluster.local', 80],
    ['outbound|9080|v2|reviews.default.svc.cluster.local', 20],
  ]);
});

test('virtual-service-ratings-test-delay.yaml: 7s delay for 100% of jason requests', () => {
  const routes = ratings('virtual-service-ratings-test-delay.yaml');
  assert.equal(routes.length, 2);
  assert.deepEqual(routes[0].match.headers, [{ name: 'end-user', string_match: { exact: 'jason' } }]);
  assert.deepEqual(routes[0].typed_per_filter_config['envoy.filters.http.fault'], {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
    delay: { fixed_delay: '7s', percentage: { numerator: 1000000, denominator: 'MILLION' } },
  });
  assert.equal(routes[0].route.cluster, 'outbound|9080|v1|ratings.default.svc.cluster.local');
  assert.equal(routes[1].typed_per_filter_config, undefined);
});

test('virtual-service-ratings-test-abort.yaml: HTTP 500 abort for 100% of jason requests', () => {
  const routes = ratings('virtual-service-ratings-test-abort.yaml');
  assert.deepEqual(routes[0].typed_per_filter_config['envoy.filters.http.fault'].abort, {
    http_status: 500,
    percentage: { numerator: 1000000, denominator: 'MILLION' },
  });
});

test('fault-injection-details-v1.yaml: first rule has no match, so it is the only route', () => {
  const routes = vhost(buildRouteConfiguration(push(apply('destination-rule-all.yaml', 'fault-injection-details-v1.yaml')), sidecar(), '9080'), 'details.default.svc.cluster.local:9080').routes;
  assert.equal(routes.length, 1);
  assert.equal(routes[0].typed_per_filter_config['envoy.filters.http.fault'].abort.http_status, 555);
  assert.equal(routes[0].route.cluster, 'outbound|9080|v1|details.default.svc.cluster.local');
});

test('bookinfo-gateway.yaml: ingress gateway route http.8080 sends the five paths to productpage', () => {
  const p = push(apply('destination-rule-all.yaml', 'bookinfo-gateway.yaml'));
  const gw = sidecar('istio-system', { istio: 'ingressgateway' }, { type: 'router' });
  const rc = buildRouteConfiguration(p, gw, 'http.8080')!;
  assert.equal(rc.name, 'http.8080');
  const vh = vhost(rc, '*:8080');
  assert.deepEqual(vh.domains, ['*']);
  assert.deepEqual(
    vh.routes.map((r: EnvoyJson) => r.match),
    [{ path: '/productpage' }, { prefix: '/static' }, { path: '/login' }, { path: '/logout' }, { prefix: '/api/v1/products' }],
  );
  for (const r of vh.routes) assert.equal(r.route.cluster, 'outbound|9080||productpage.default.svc.cluster.local');
  // The gateway's VirtualService is not the mesh's.
  const side = buildRouteConfiguration(p, sidecar(), '9080')!;
  assert.equal(vhost(side, 'productpage.default.svc.cluster.local:9080').routes[0].name, 'default');
  // A router no Gateway selects has no such route configuration.
  assert.equal(buildRouteConfiguration(p, sidecar('istio-system', { istio: 'other' }, { type: 'router' }), 'http.8080'), undefined);
});
