import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteConfiguration } from '../../../src/pilot/route/index.ts';
import { isCatchAllMatch } from '../../../src/pilot/route/match.ts';
import { decodeResource, encodeResource } from '../../../src/xds/codec.ts';
import { TYPE, type EnvoyJson } from '../../../src/xds/types.ts';
import { bookinfoServices, kubeService, push, sidecar, vhost, yamlConfigs } from './fixtures.ts';

function reviewsRoutes(httpYaml: string, proxy = sidecar(), port = '9080', services = bookinfoServices()): EnvoyJson[] {
  const cfg = yamlConfigs(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
${httpYaml}
`);
  return vhost(buildRouteConfiguration(push(cfg, services), proxy, port), `reviews.default.svc.cluster.local:${port}`).routes;
}

const dest = `    route:
    - destination: {host: reviews, subset: v1}`;

test('uri exact / prefix / regex → path / prefix / safe_regex', () => {
  const routes = reviewsRoutes(`
  - match:
    - uri: {exact: /a}
    - uri: {prefix: /b}
    - uri: {regex: '/c/[0-9]+'}
${dest}`);
  assert.deepEqual(routes.map((r) => r.match), [{ path: '/a' }, { prefix: '/b' }, { safe_regex: { regex: '/c/[0-9]+' } }]);
});

test('ignoreUriCase → case_sensitive false', () => {
  const [r] = reviewsRoutes(`
  - match:
    - uri: {prefix: /Api}
      ignoreUriCase: true
${dest}`);
  assert.deepEqual(r!.match, { prefix: '/Api', case_sensitive: false });
});

test('headers exact/prefix/regex, presence, withoutHeaders (invert_match), sorted by name', () => {
  const [r] = reviewsRoutes(`
  - match:
    - headers:
        end-user: {exact: jason}
        x-b: {prefix: pre}
        x-a: {regex: 'v[12]'}
        x-present: {}
      withoutHeaders:
        x-canary: {exact: 'true'}
${dest}`);
  assert.deepEqual(r!.match.headers, [
    { name: 'end-user', string_match: { exact: 'jason' } },
    { name: 'x-a', string_match: { safe_regex: { regex: 'v[12]' } } },
    { name: 'x-b', string_match: { prefix: 'pre' } },
    { name: 'x-canary', string_match: { exact: 'true' }, invert_match: true },
    { name: 'x-present', present_match: true },
  ]);
  assert.equal(r!.match.prefix, '/');
});

test('method, authority and scheme become pseudo-header matchers', () => {
  const [r] = reviewsRoutes(`
  - match:
    - method: {exact: POST}
      authority: {prefix: reviews}
      scheme: {exact: https}
${dest}`);
  assert.deepEqual(r!.match.headers, [
    { name: ':method', string_match: { exact: 'POST' } },
    { name: ':authority', string_match: { prefix: 'reviews' } },
    { name: ':scheme', string_match: { exact: 'https' } },
  ]);
});

test('queryParams exact/prefix/regex; empty exact → present_match', () => {
  const [r] = reviewsRoutes(`
  - match:
    - queryParams:
        v: {exact: '2'}
        debug: {exact: ''}
        p: {prefix: ab}
        r: {regex: '\\d+'}
${dest}`);
  assert.deepEqual(r!.match.query_parameters, [
    { name: 'debug', present_match: true },
    { name: 'p', string_match: { prefix: 'ab' } },
    { name: 'r', string_match: { safe_regex: { regex: '\\d+' } } },
    { name: 'v', string_match: { exact: '2' } },
  ]);
});

test('JWT claim headers become Envoy jwt_authn payload matchers, exactly as Istio emits them (issue 7, bug 5)', () => {
  const [r, w] = reviewsRoutes(`
  - match:
    - headers:
        '@request.auth.claims.groups': {exact: admin}
        '@request.auth.claims[nested][key]': {prefix: a}
${dest}
  - match:
    - withoutHeaders:
        '@request.auth.claims.sub': {regex: 'x.*'}
${dest}`);
  assert.equal(r!.match.headers, undefined);
  const either = (sm: EnvoyJson) => ({ or_match: { value_matchers: [{ list_match: { one_of: { string_match: sm } } }, { string_match: sm }] } });
  assert.deepEqual(r!.match.dynamic_metadata, [
    { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'payload' }, { key: 'groups' }], value: either({ exact: 'admin' }) },
    { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'payload' }, { key: 'nested' }, { key: 'key' }], value: either({ prefix: 'a' }) },
  ]);
  assert.deepEqual(w!.match.dynamic_metadata, [
    { filter: 'envoy.filters.http.jwt_authn', path: [{ key: 'payload' }, { key: 'sub' }], value: either({ safe_regex: { regex: 'x.*' } }), invert: true },
  ]);
  // A claim match is never a catch-all: the routes after it stay reachable.
  assert.ok(isCatchAllMatch(r!.match) === false);
  // And it is valid Envoy: the RouteConfiguration encodes with the matcher intact.
  const rc = { name: 'x', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [r] }] };
  const back = decodeResource(TYPE.ROUTE, encodeResource(TYPE.ROUTE, rc));
  assert.deepEqual(back.virtual_hosts[0].routes[0].match.dynamic_metadata, r!.match.dynamic_metadata);
});

test('match.port applies only on that port route configuration', () => {
  const services = [...bookinfoServices().filter((s) => s.name !== 'reviews'), kubeService('reviews', 'default', [[9080, 'http', 'HTTP'], [9090, 'http-alt', 'HTTP']], '10.0.0.14')];
  const yaml = `
  - match:
    - port: 9090
      uri: {prefix: /only9090}
${dest}
  - route:
    - destination: {host: reviews, subset: v2}`;
  const on9080 = reviewsRoutes(yaml, sidecar(), '9080', services);
  assert.deepEqual(on9080.map((r) => r.match), [{ prefix: '/' }]);
  assert.equal(on9080[0]!.route.cluster, 'outbound|9080|v2|reviews.default.svc.cluster.local');
  const on9090 = reviewsRoutes(yaml, sidecar(), '9090', services);
  assert.deepEqual(on9090.map((r) => r.match.prefix), ['/only9090', '/']);
  // Multi-port service without destination.port: the port the request came in on.
  assert.equal(on9090[0]!.route.cluster, 'outbound|9090|v1|reviews.default.svc.cluster.local');
});

test('sourceLabels and sourceNamespace include the route only for matching proxies', () => {
  const yaml = `
  - match:
    - sourceLabels: {app: productpage}
      sourceNamespace: default
${dest}
  - route:
    - destination: {host: reviews, subset: v2}`;
  const fromProductpage = reviewsRoutes(yaml, sidecar('default', { app: 'productpage', version: 'v1' }));
  // For a matching proxy the first rule is a catch-all, so nothing follows it.
  assert.equal(fromProductpage.length, 1);
  assert.equal(fromProductpage[0]!.route.cluster, 'outbound|9080|v1|reviews.default.svc.cluster.local');
  const fromOther = reviewsRoutes(yaml, sidecar('default', { app: 'ratings' }));
  assert.equal(fromOther.length, 1);
  assert.equal(fromOther[0]!.route.cluster, 'outbound|9080|v2|reviews.default.svc.cluster.local');
  const otherNs = reviewsRoutes(yaml, sidecar('other', { app: 'productpage' }));
  assert.equal(otherNs.length, 1);
});

test('match.gateways: a match for a gateway is skipped on sidecars, "mesh" keeps it', () => {
  const routes = reviewsRoutes(`
  - match:
    - gateways: [bookinfo-gateway]
      uri: {prefix: /gw}
    - gateways: [mesh]
      uri: {prefix: /mesh}
${dest}`);
  assert.deepEqual(routes.map((r) => r.match.prefix), ['/mesh']);
});

test('nothing follows a catch-all route', () => {
  const routes = reviewsRoutes(`
  - route:
    - destination: {host: reviews, subset: v1}
  - match:
    - uri: {prefix: /never}
    route:
    - destination: {host: reviews, subset: v2}`);
  assert.equal(routes.length, 1);
  const routes2 = reviewsRoutes(`
  - match:
    - uri: {prefix: /}
    - uri: {prefix: /unreachable}
${dest}`);
  assert.deepEqual(routes2.map((r) => r.match), [{ prefix: '/' }]);
});

test('route name joins HTTPRoute name and match name', () => {
  const routes = reviewsRoutes(`
  - name: canary
    match:
    - name: jason
      headers: {end-user: {exact: jason}}
    - uri: {prefix: /x}
${dest}`);
  assert.deepEqual(routes.map((r) => r.name), ['canary.jason', 'canary']);
});
