import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { parseProxy } from '../../src/pilot/proxy.ts';
import { TYPE } from '../../src/xds/types.ts';
import { pushFromYaml, sidecarNode, workload } from './fixtures.ts';

const yaml = `
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec: {selector: {app: echo}, ports: [{name: grpc, port: 7070}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: default}
spec: {selector: {app: other}, ports: [{name: grpc, port: 7070}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo
  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}, tls: {mode: ISTIO_MUTUAL}}
  subsets: [{name: v1, labels: {version: v1}}]
`;
const push = pushFromYaml(yaml, [workload('echo-1', '127.0.5.1', { app: 'echo', version: 'v1' }), workload('other-1', '127.0.5.2', { app: 'other' })]);
const client = parseProxy(sidecarNode(workload('client', '127.0.5.9', { app: 'client' }), { GENERATOR: 'grpc' }));
const HOST = 'echo.default.svc.cluster.local';

test('gRPC listeners: API listener per asked host:port, RDS of the same name, fault filter then router', () => {
  const ls = generate(push, client, TYPE.LISTENER, [`${HOST}:7070`, 'echo:7070', 'missing.default.svc.cluster.local:7070', `${HOST}:9999`]);
  assert.deepEqual(ls.map((l) => l.name), [`${HOST}:7070`, 'echo:7070']);
  const hcm = ls[0]!.resource.api_listener.api_listener;
  assert.equal(hcm['@type'], 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
  assert.equal(hcm.rds.route_config_name, `${HOST}:7070`);
  assert.deepEqual(hcm.rds.config_source.ads, {});
  // The fault filter applies VirtualService faults (gRFC A33); the router is last.
  assert.deepEqual(hcm.http_filters.map((f: any) => f.name), ['envoy.filters.http.fault', 'envoy.filters.http.router']);
  assert.equal(hcm.http_filters[0].typed_config['@type'], 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault');
  assert.equal(ls[0]!.resource.address, undefined);
  assert.equal(ls[1]!.resource.api_listener.api_listener.rds.route_config_name, 'echo:7070');
  // Without names (wildcard), every visible service port.
  assert.deepEqual(generate(push, client, TYPE.LISTENER).map((l) => l.name), [`${HOST}:7070`, 'other.default.svc.cluster.local:7070']);
});

test('gRPC clusters: only those asked, EDS over ADS, ROUND_ROBIN, ISTIO_MUTUAL in the form gRPC reads (no Envoy SDS)', () => {
  const names = [`outbound|7070|v1|${HOST}`, `outbound|7070||${HOST}`, `outbound|7070|nosuch|${HOST}`];
  const cs = generate(push, client, TYPE.CLUSTER, names);
  assert.deepEqual(cs.map((c) => c.name), [`outbound|7070|v1|${HOST}`, `outbound|7070||${HOST}`]);
  for (const { resource: c } of cs) {
    assert.equal(c.type, 'EDS');
    assert.deepEqual(c.eds_cluster_config.eds_config.ads, {});
    assert.equal(c.lb_policy, 'ROUND_ROBIN');
    // Certificates come from the bootstrap's provider instance (see grpc_mtls.test.ts), never SDS.
    const common = c.transport_socket.typed_config.common_tls_context;
    assert.deepEqual(common.tls_certificate_provider_instance, { instance_name: 'default', certificate_name: 'default' });
    assert.equal(common.tls_certificate_sds_secret_configs, undefined);
    assert.equal(c.transport_socket_matches, undefined);
  }
  const eds = generate(push, client, TYPE.ENDPOINT, [`outbound|7070|v1|${HOST}`]);
  assert.equal(eds.length, 1);
  assert.equal(eds[0]!.resource.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address, '127.0.5.1');
  assert.ok(eds[0]!.resource.endpoints[0].load_balancing_weight > 0, 'gRPC ignores localities without weight');
});

test('gRPC routes come from the route builder under the listener name', () => {
  const rs = generate(push, client, TYPE.ROUTE, [`${HOST}:7070`]);
  assert.deepEqual(rs.map((r) => r.name), [`${HOST}:7070`]);
  assert.equal(rs[0]!.resource.name, `${HOST}:7070`);
});

test('gRPC clusters: outlier detection as failure-percentage ejection (gRFC A50), MAGLEV as RING_HASH (gRFC A42)', () => {
  const rules = `
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec: {selector: {app: echo}, ports: [{name: grpc, port: 7070}]}
---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: default}
spec: {selector: {app: other}, ports: [{name: grpc, port: 7070}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}}
    outlierDetection: {consecutive5xxErrors: 7, consecutiveGatewayErrors: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: other, namespace: default}
spec:
  host: other
  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 0}}
`;
  const p = pushFromYaml(rules, [workload('echo-1', '127.0.5.1', { app: 'echo' }), workload('other-1', '127.0.5.2', { app: 'other' })]);
  const [echo, other] = generate(p, client, TYPE.CLUSTER, [`outbound|7070||${HOST}`, 'outbound|7070||other.default.svc.cluster.local']).map((r) => r.resource);
  assert.deepEqual(echo.outlier_detection, {
    interval: '1s',
    base_ejection_time: '30s',
    max_ejection_percent: 50,
    enforcing_success_rate: 0,
    enforcing_failure_percentage: 100,
    failure_percentage_threshold: 85,
    failure_percentage_request_volume: 3,
    failure_percentage_minimum_hosts: 1,
  });
  assert.equal(echo.lb_policy, 'RING_HASH');
  assert.equal(echo.maglev_lb_config, undefined);
  // Ejection switched off in the rule: nothing for gRPC to enforce.
  assert.equal(other.outlier_detection.enforcing_failure_percentage, undefined);
  assert.equal(other.outlier_detection.enforcing_success_rate, 0);
  // No rule at all: present but off (grpc-js-xds would miss it being added later otherwise).
  const [plain] = generate(push, client, TYPE.CLUSTER, ['outbound|7070||other.default.svc.cluster.local']).map((r) => r.resource);
  assert.deepEqual(plain.outlier_detection, { enforcing_success_rate: 0 });
});
