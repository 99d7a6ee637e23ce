import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClusters, hashPolicyFor } from '../../src/pilot/cluster/index.ts';
import type { NamedResource } from '../../src/xds/types.ts';
import { bookinfoPush, bookinfoProxy, proxyFor, pushFromYaml, workload } from './fixtures.ts';

const get = (rs: NamedResource[], name: string) => {
  const r = rs.find((x) => x.name === name);
  assert.ok(r, `no ${name} in ${rs.map((x) => x.name).join(', ')}`);
  return r.resource;
};

test('bookinfo: one EDS cluster per service port plus one per subset, and the fixed clusters', () => {
  const { push, workloads } = bookinfoPush(['destination-rule-all.yaml']);
  const names = buildClusters(push, bookinfoProxy(workloads)).map((c) => c.name);
  // Sorted by code point: '|' sorts after letters.
  assert.deepEqual(names.filter((n) => n.includes('reviews')), [
    'outbound|9080|v1|reviews.default.svc.cluster.local',
    'outbound|9080|v2|reviews.default.svc.cluster.local',
    'outbound|9080|v3|reviews.default.svc.cluster.local',
    'outbound|9080||reviews.default.svc.cluster.local',
  ]);
  for (const fixed of ['BlackHoleCluster', 'InboundPassthroughCluster', 'PassthroughCluster', 'inbound|9080||']) assert.ok(names.includes(fixed), fixed);
  const c = get(buildClusters(push, bookinfoProxy(workloads)), 'outbound|9080|v2|reviews.default.svc.cluster.local');
  assert.equal(c.type, 'EDS');
  assert.deepEqual(c.eds_cluster_config.eds_config.ads, {});
  assert.equal(c.eds_cluster_config.service_name, c.name);
  assert.equal(c.connect_timeout, '10s');
  assert.equal(c.lb_policy, 'LEAST_REQUEST');
  // Auto mTLS: mesh-internal EDS cluster chooses mTLS per endpoint.
  assert.deepEqual(c.transport_socket_matches.map((m: any) => m.name), ['tlsMode-istio', 'tlsMode-disabled']);
  const inbound = get(buildClusters(push, bookinfoProxy(workloads)), 'inbound|9080||');
  assert.equal(inbound.type, 'STATIC');
  assert.deepEqual(inbound.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: '127.0.0.1', port_value: 9080 });
});

test('ISTIO_MUTUAL uses SDS "default" and "ROOTCA", Istio SNI and the workloads\' SPIFFE ids', () => {
  const { push, workloads } = bookinfoPush(['destination-rule-all-mtls.yaml']);
  const c = get(buildClusters(push, bookinfoProxy(workloads)), 'outbound|9080|v1|ratings.default.svc.cluster.local');
  const ctx = c.transport_socket.typed_config;
  assert.equal(ctx['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  assert.equal(ctx.sni, 'outbound_.9080_.v1_.ratings.default.svc.cluster.local');
  assert.equal(ctx.common_tls_context.tls_certificate_sds_secret_configs[0].name, 'default');
  assert.equal(ctx.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name, 'ROOTCA');
  assert.deepEqual(ctx.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names, [
    { san_type: 'URI', matcher: { exact: 'spiffe://cluster.local/ns/default/sa/bookinfo-ratings' } },
  ]);
  assert.equal(c.transport_socket_matches, undefined);
});

test('DNS ServiceEntry: STRICT_DNS with inline endpoints; port-level SIMPLE tls with SNI', () => {
  const { push, workloads } = bookinfoPush(['egress-rule-google-apis.yaml']);
  const clusters = buildClusters(push, bookinfoProxy(workloads));
  const c443 = get(clusters, 'outbound|443||www.googleapis.com');
  assert.equal(c443.type, 'STRICT_DNS');
  assert.equal(c443.eds_cluster_config, undefined);
  assert.deepEqual(c443.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, { address: 'www.googleapis.com', port_value: 443 });
  assert.equal(c443.lb_policy, 'ROUND_ROBIN');
  assert.equal(c443.transport_socket.typed_config.sni, 'www.googleapis.com');
  const c80 = get(clusters, 'outbound|80||www.googleapis.com');
  assert.equal(c80.transport_socket, undefined, 'portLevelSettings for 443 must not apply to 80');
  assert.equal(c80.transport_socket_matches, undefined, 'no auto mTLS for external services');
});

const echo = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [ext.example.com]
  ports: [{number: 7070, name: grpc, protocol: GRPC}]
  resolution: NONE
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: grpc, port: 7070}, {name: tcp, port: 9090}]}
---`;

test('resolution NONE → ORIGINAL_DST; GRPC ports get HTTP/2 upstream protocol options', () => {
  const push = pushFromYaml(echo, [workload('echo-1', '127.0.2.1', { app: 'echo' })]);
  const clusters = buildClusters(push, proxyFor({ namespace: 'default' }));
  const ext = get(clusters, 'outbound|7070||ext.example.com');
  assert.equal(ext.type, 'ORIGINAL_DST');
  assert.equal(ext.lb_policy, 'CLUSTER_PROVIDED');
  const grpc = get(clusters, 'outbound|7070||echo.default.svc.cluster.local');
  const opts = grpc.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.deepEqual(opts.explicit_http_config, { http2_protocol_options: {} });
  assert.equal(get(clusters, 'outbound|9090||echo.default.svc.cluster.local').typed_extension_protocol_options, undefined);
});

test('DestinationRule policy: lb, connection pool, outlier detection, consistent hash, subset override', () => {
  const push = pushFromYaml(
    echo +
      `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 2048}}}
    connectionPool:
      tcp: {maxConnections: 10, connectTimeout: 250ms}
      http: {http1MaxPendingRequests: 5, http2MaxRequests: 20, maxRetries: 2, idleTimeout: 30s, maxRequestsPerConnection: 3}
    outlierDetection: {consecutive5xxErrors: 3, interval: 5s, baseEjectionTime: 1m, maxEjectionPercent: 50, minHealthPercent: 25}
  subsets:
  - name: rr
    labels: {app: echo}
    trafficPolicy: {loadBalancer: {simple: RANDOM}}
  - name: pass
    labels: {app: echo}
    trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}
`,
    [workload('echo-1', '127.0.2.1', { app: 'echo' })],
  );
  const proxy = proxyFor({ namespace: 'default' });
  const clusters = buildClusters(push, proxy);
  const c = get(clusters, 'outbound|7070||echo.default.svc.cluster.local');
  assert.equal(c.lb_policy, 'RING_HASH');
  assert.deepEqual(c.ring_hash_lb_config, { minimum_ring_size: 2048 });
  assert.deepEqual(c.circuit_breakers.thresholds[0], { max_connections: 10, max_pending_requests: 5, max_requests: 20, max_retries: 2, track_remaining: true });
  assert.equal(c.connect_timeout, '0.25s');
  const opts = c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.deepEqual(opts.common_http_protocol_options, { idle_timeout: '30s', max_requests_per_connection: 3 });
  assert.deepEqual(c.outlier_detection, { consecutive_5xx: 3, enforcing_consecutive_5xx: 100, interval: '5s', base_ejection_time: '60s', max_ejection_percent: 50, enforcing_success_rate: 0 });
  assert.deepEqual(c.common_lb_config.healthy_panic_threshold, { value: 25 });
  // TCP port: HTTP pool settings do not apply.
  assert.equal(get(clusters, 'outbound|9090||echo.default.svc.cluster.local').circuit_breakers.thresholds[0].max_pending_requests, 4294967295);
  assert.equal(get(clusters, 'outbound|7070|rr|echo.default.svc.cluster.local').lb_policy, 'RANDOM');
  const pass = get(clusters, 'outbound|7070|pass|echo.default.svc.cluster.local');
  assert.equal(pass.type, 'ORIGINAL_DST');
  assert.equal(pass.eds_cluster_config, undefined);
  assert.deepEqual(hashPolicyFor(push, proxy, 'echo.default.svc.cluster.local', undefined, 7070), [{ header: { header_name: 'x-user' } }]);
  assert.deepEqual(hashPolicyFor(push, proxy, 'echo.default.svc.cluster.local', 'rr', 7070), []);
});
