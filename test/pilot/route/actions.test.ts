import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteConfiguration } from '../../../src/pilot/route/index.ts';
import { clusterNameFor } from '../../../src/pilot/route/destination.ts';
import type { EnvoyJson } from '../../../src/xds/types.ts';
import { bookinfoServices, kubeService, push, sidecar, vhost, yamlConfigs } from './fixtures.ts';

function routesFor(httpYaml: string, extraYaml = '', services = bookinfoServices()): EnvoyJson[] {
  const cfg = yamlConfigs(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
${httpYaml}
${extraYaml ? '---\n' + extraYaml : ''}
`);
  return vhost(buildRouteConfiguration(push(cfg, services), sidecar(), '9080'), 'reviews.default.svc.cluster.local:9080').routes;
}

test('single destination → cluster with subset, decorator host:port/path, metadata naming the VS', () => {
  const [r] = routesFor(`
  - match: [{uri: {prefix: /api}}]
    route:
    - destination: {host: reviews, subset: v2}`);
  assert.equal(r!.route.cluster, 'outbound|9080|v2|reviews.default.svc.cluster.local');
  assert.equal(r!.route.weighted_clusters, undefined);
  assert.deepEqual(r!.decorator, { operation: 'reviews.default.svc.cluster.local:9080/api*' });
  assert.equal(r!.metadata.filter_metadata.istio.config, '/apis/networking.istio.io/v1alpha3/namespaces/default/virtual-service/reviews');
});

test('destination.port picks the cluster port; another service as destination', () => {
  const services = [...bookinfoServices(), kubeService('httpbin', 'other', [[8000, 'http', 'HTTP'], [8443, 'https', 'HTTPS']], '10.0.0.30')];
  const routes = routesFor(`
  - match: [{uri: {prefix: /a}}]
    route:
    - destination: {host: httpbin.other.svc.cluster.local, port: {number: 8443}}
  - match: [{uri: {prefix: /b}}]
    route:
    - destination: {host: ratings}`, '', services);
  assert.equal(routes[0]!.route.cluster, 'outbound|8443||httpbin.other.svc.cluster.local');
  // ratings has a single port: that one.
  assert.equal(routes[1]!.route.cluster, 'outbound|9080||ratings.default.svc.cluster.local');
});

test('clusterNameFor resolves short names in the VS namespace and infers the port', () => {
  const services = [...bookinfoServices(), kubeService('db', 'data', [[3306, 'tcp', 'TCP'], [33060, 'tcp-x', 'TCP']], '10.0.0.40')];
  const p = push([], services);
  assert.equal(clusterNameFor(p, 'default', { host: 'reviews', subset: 'v1' }, 1), 'outbound|9080|v1|reviews.default.svc.cluster.local');
  assert.equal(clusterNameFor(p, 'data', { host: 'db' }, 3306), 'outbound|3306||db.data.svc.cluster.local');
  assert.equal(clusterNameFor(p, 'data', { host: 'db', port: { number: 33060 } }, 3306), 'outbound|33060||db.data.svc.cluster.local');
  assert.equal(clusterNameFor(p, 'x', { host: 'api.example.com' }, 443), 'outbound|443||api.example.com');
});

test('multiple destinations → weighted_clusters; zero weights dropped; per-destination headers', () => {
  const [r] = routesFor(`
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 75
      headers:
        request: {set: {x-version: v1}}
        response: {remove: [x-internal]}
    - destination: {host: reviews, subset: v2}
      weight: 25
    - destination: {host: reviews, subset: v3}
      weight: 0`);
  assert.equal(r!.route.cluster, undefined);
  assert.deepEqual(r!.route.weighted_clusters, {
    clusters: [
      {
        name: 'outbound|9080|v1|reviews.default.svc.cluster.local',
        weight: 75,
        request_headers_to_add: [{ header: { key: 'x-version', value: 'v1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
        response_headers_to_remove: ['x-internal'],
      },
      { name: 'outbound|9080|v2|reviews.default.svc.cluster.local', weight: 25 },
    ],
  });
  // Without a single cluster, the span is named after the VirtualService.
  assert.equal(r!.decorator.operation, 'reviews:9080/*');
});

test('redirect: path, authority, port, scheme and each redirectCode', () => {
  const codes: Array<[number | undefined, string]> = [
    [undefined, 'MOVED_PERMANENTLY'], [301, 'MOVED_PERMANENTLY'], [302, 'FOUND'], [303, 'SEE_OTHER'], [307, 'TEMPORARY_REDIRECT'], [308, 'PERMANENT_REDIRECT'],
  ];
  for (const [code, name] of codes) {
    const [r] = routesFor(`
  - redirect:
      uri: /v2/reviews
      authority: new.example.com
      port: 8443
      scheme: https
${code ? `      redirectCode: ${code}` : ''}`);
    assert.equal(r!.route, undefined);
    assert.deepEqual(r!.redirect, { path_redirect: '/v2/reviews', host_redirect: 'new.example.com', port_redirect: 8443, scheme_redirect: 'https', response_code: name });
  }
});

test('rewrite: uri → prefix_rewrite, uriRegexRewrite → regex_rewrite, authority → host_rewrite_literal', () => {
  const routes = routesFor(`
  - match: [{uri: {prefix: /old}}]
    rewrite: {uri: /new, authority: reviews.internal}
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /re}}]
    rewrite:
      uriRegexRewrite: {match: '^/re/(.*)$', rewrite: '/\\1'}
    route: [{destination: {host: reviews}}]`);
  assert.equal(routes[0]!.route.prefix_rewrite, '/new');
  assert.equal(routes[0]!.route.host_rewrite_literal, 'reviews.internal');
  assert.deepEqual(routes[1]!.route.regex_rewrite, { pattern: { regex: '^/re/(.*)$' }, substitution: '/\\1' });
  assert.equal(routes[1]!.route.prefix_rewrite, undefined);
});

test('directResponse: status with string or base64 bytes body', () => {
  const routes = routesFor(`
  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "I'm a teapot"}}
  - match: [{uri: {exact: /bin}}]
    directResponse: {status: 200, body: {bytes: aGVsbG8=}}
  - match: [{uri: {exact: /empty}}]
    directResponse: {status: 503}`);
  assert.deepEqual(routes[0]!.direct_response, { status: 418, body: { inline_string: "I'm a teapot" } });
  assert.deepEqual(routes[1]!.direct_response, { status: 200, body: { inline_bytes: 'aGVsbG8=' } });
  assert.deepEqual(routes[2]!.direct_response, { status: 503 });
  assert.equal(routes[0]!.route, undefined);
});

test('timeout: set → timeout + max_grpc_timeout (as Istio); unset → 0s + max_grpc_timeout 0s', () => {
  const routes = routesFor(`
  - match: [{uri: {prefix: /slow}}]
    timeout: 1.5s
    route: [{destination: {host: reviews}}]
  - route: [{destination: {host: reviews}}]`);
  assert.equal(routes[0]!.route.timeout, '1.5s');
  assert.equal(routes[0]!.route.max_grpc_timeout, '1.5s');
  assert.equal(routes[0]!.route.max_stream_duration, undefined);
  assert.equal(routes[1]!.route.timeout, '0s');
  assert.equal(routes[1]!.route.max_grpc_timeout, '0s');
});

test('retries: attempts/perTryTimeout/retryOn with status codes/retryRemoteLocalities; attempts 0 disables', () => {
  const routes = routesFor(`
  - match: [{uri: {prefix: /a}}]
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: 'gateway-error,connect-failure,503,504', retryRemoteLocalities: true}
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /b}}]
    retries: {attempts: 0}
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /c}}]
    retries: {attempts: 4}
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /e}}]
    retries: {attempts: 2, retryIgnorePreviousHosts: false}
    route: [{destination: {host: reviews}}]`);
  const p = routes[0]!.route.retry_policy;
  assert.equal(p.num_retries, 3);
  assert.equal(p.per_try_timeout, '2s');
  assert.equal(p.retry_on, 'gateway-error,connect-failure,retriable-status-codes');
  assert.deepEqual(p.retriable_status_codes, [503, 504]);
  assert.equal(p.retry_priority.name, 'envoy.retry_priorities.previous_priorities');
  assert.equal(p.retry_priority.typed_config.update_frequency, 2);
  assert.equal(p.retry_host_predicate[0].name, 'envoy.retry_host_predicates.previous_hosts');
  assert.equal(routes[1]!.route.retry_policy, undefined);
  // attempts only: Istio's default retry_on, with the count replaced.
  assert.equal(routes[2]!.route.retry_policy.num_retries, 4);
  assert.equal(routes[2]!.route.retry_policy.retry_on, 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes');
  // retryIgnorePreviousHosts: false drops the previous_hosts predicate, as Istio does.
  assert.equal(routes[3]!.route.retry_policy.retry_host_predicate, undefined);
});

test('fault: delay and abort (http and grpc) → typed_per_filter_config envoy.filters.http.fault', () => {
  const routes = routesFor(`
  - match: [{uri: {prefix: /d}}]
    fault:
      delay: {fixedDelay: 5s, percentage: {value: 12.5}}
      abort: {httpStatus: 503, percentage: {value: 0.1}}
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /g}}]
    fault:
      abort: {grpcStatus: UNAVAILABLE, percentage: {value: 50}}
    route: [{destination: {host: reviews}}]`);
  assert.deepEqual(routes[0]!.typed_per_filter_config['envoy.filters.http.fault'], {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
    delay: { fixed_delay: '5s', percentage: { numerator: 125000, denominator: 'MILLION' } },
    abort: { http_status: 503, percentage: { numerator: 1000, denominator: 'MILLION' } },
  });
  assert.deepEqual(routes[1]!.typed_per_filter_config['envoy.filters.http.fault'].abort, {
    grpc_status: 14,
    percentage: { numerator: 500000, denominator: 'MILLION' },
  });
});

test('mirror with mirrorPercentage, legacy mirrorPercent, and mirrors[]', () => {
  const services = [...bookinfoServices(), kubeService('shadow', 'default', [[9080, 'http', 'HTTP']], '10.0.0.90')];
  const routes = routesFor(`
  - match: [{uri: {prefix: /a}}]
    mirror: {host: reviews, subset: v3}
    mirrorPercentage: {value: 25.5}
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {prefix: /b}}]
    mirror: {host: shadow}
    mirrorPercent: 40
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {prefix: /c}}]
    mirrors:
    - destination: {host: shadow}
    - destination: {host: reviews, subset: v2}
      percentage: {value: 10}
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {prefix: /d}}]
    mirror: {host: shadow}
    mirrorPercentage: {value: 0}
    route: [{destination: {host: reviews, subset: v1}}]`, '', services);
  assert.deepEqual(routes[0]!.route.request_mirror_policies, [
    { cluster: 'outbound|9080|v3|reviews.default.svc.cluster.local', runtime_fraction: { default_value: { numerator: 255000, denominator: 'MILLION' } }, trace_sampled: false },
  ]);
  assert.deepEqual(routes[1]!.route.request_mirror_policies[0].runtime_fraction, { default_value: { numerator: 40, denominator: 'HUNDRED' } });
  assert.deepEqual(routes[2]!.route.request_mirror_policies.map((m: EnvoyJson) => [m.cluster, m.runtime_fraction.default_value.numerator]), [
    ['outbound|9080||shadow.default.svc.cluster.local', 100],
    ['outbound|9080|v2|reviews.default.svc.cluster.local', 100000],
  ]);
  assert.equal(routes[3]!.route.request_mirror_policies, undefined);
});

test('corsPolicy → typed_per_filter_config envoy.filters.http.cors', () => {
  const [r] = routesFor(`
  - corsPolicy:
      allowOrigins: [{exact: 'https://a.example.com'}, {prefix: 'https://b.'}, {regex: '.*\\.c\\.com'}]
      allowMethods: [GET, POST]
      allowHeaders: [x-a, x-b]
      exposeHeaders: [x-c]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: reviews}}]`);
  assert.deepEqual(r!.typed_per_filter_config['envoy.filters.http.cors'], {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
    allow_origin_string_match: [{ exact: 'https://a.example.com' }, { prefix: 'https://b.' }, { safe_regex: { regex: '.*\\.c\\.com' } }],
    allow_methods: 'GET,POST',
    allow_headers: 'x-a,x-b',
    expose_headers: 'x-c',
    max_age: '86400',
    allow_credentials: true,
    filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
    forward_not_matching_preflights: true,
  });
});

test('headers: set overwrites, add appends, remove; Host set becomes host_rewrite_literal', () => {
  const [r] = routesFor(`
  - headers:
      request:
        set: {x-b: '1', x-a: '2', host: rewritten.example.com}
        add: {x-c: '3'}
        remove: [x-d, ':path']
      response:
        set: {x-e: '4'}
        add: {x-f: '5'}
        remove: [x-g]
    route: [{destination: {host: reviews}}]`);
  assert.deepEqual(r!.request_headers_to_add, [
    { header: { key: 'x-a', value: '2' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-b', value: '1' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-c', value: '3' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
  ]);
  assert.deepEqual(r!.request_headers_to_remove, ['x-d']);
  assert.deepEqual(r!.response_headers_to_add, [
    { header: { key: 'x-e', value: '4' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-f', value: '5' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
  ]);
  assert.deepEqual(r!.response_headers_to_remove, ['x-g']);
  assert.equal(r!.route.host_rewrite_literal, 'rewritten.example.com');
});

test('consistentHash from the DestinationRule → hash_policy; previous_hosts predicate dropped', () => {
  const dr = (lb: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      consistentHash: ${lb}
  subsets:
  - {name: v1, labels: {version: v1}}`;
  const http = `
  - route: [{destination: {host: reviews, subset: v1}}]`;
  const cases: Array<[string, EnvoyJson]> = [
    ['{httpHeaderName: x-user}', { header: { header_name: 'x-user' } }],
    ['{httpCookie: {name: session, ttl: 60s, path: /}}', { cookie: { name: 'session', ttl: '60s', path: '/' } }],
    ['{useSourceIp: true}', { connection_properties: { source_ip: true } }],
    ['{httpQueryParameterName: uid}', { query_parameter: { name: 'uid' } }],
  ];
  for (const [lb, want] of cases) {
    const [r] = routesFor(http, dr(lb));
    assert.deepEqual(r!.route.hash_policy, [want], lb);
    assert.equal(r!.route.retry_policy.retry_host_predicate, undefined, lb);
  }
  // The default route of a service without a VirtualService gets it too.
  const cfg = yamlConfigs(dr('{httpHeaderName: x-user}'));
  const rc = buildRouteConfiguration(push(cfg), sidecar(), '9080');
  assert.deepEqual(vhost(rc, 'reviews.default.svc.cluster.local:9080').routes[0].route.hash_policy, [{ header: { header_name: 'x-user' } }]);
  assert.equal(vhost(rc, 'ratings.default.svc.cluster.local:9080').routes[0].route.hash_policy, undefined);
});
