/**
 * DestinationRule connectionPool and retryBudget translation (src/pilot/cluster/connection_pool.ts):
 * the default retry budget on outbound clusters, the rule's own budget, the switch back to
 * Istio's behaviour, and the connection settings the proxy now enforces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClusters } from '../../src/pilot/cluster/index.ts';
import { buildGrpcClusters } from '../../src/pilot/grpc/cluster.ts';
import { buildListeners } from '../../src/pilot/listener/index.ts';
import type { NamedResource } from '../../src/xds/types.ts';
import { MESH, proxyFor, pushFromYaml, workload } from './fixtures.ts';

const get = (rs: NamedResource[], name: string) => {
  const r = rs.find((x) => x.name === name);
  assert.ok(r, `no ${name}`);
  return r.resource;
};

const svc = `
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 8080}, {name: grpc, port: 7070}]}
---`;
const workloads = [workload('echo-1', '127.0.2.1', { app: 'echo' })];
const HTTP = 'outbound|8080||echo.default.svc.cluster.local';
const DEFAULT_BUDGET = { budget_percent: { value: 20 }, min_retry_concurrency: 3 };

function thresholds(yaml: string, mesh = MESH, subset = '') {
  const clusters = buildClusters(pushFromYaml(svc + yaml, workloads, mesh), proxyFor({ namespace: 'default' }));
  return get(clusters, HTTP.replace('||', `|${subset}|`)).circuit_breakers.thresholds[0];
}

test('every outbound cluster gets the default retry budget (20%, min 3); --retry-budget off gives Istio\'s max_retries alone', () => {
  assert.deepEqual(thresholds(''), { max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295, track_remaining: true, retry_budget: DEFAULT_BUDGET });
  const off = thresholds('', { ...MESH, defaultRetryBudget: false });
  assert.equal(off.retry_budget, undefined);
  assert.equal(off.max_retries, 4294967295);
});

test('DestinationRule retryBudget overrides the default, at rule and subset level; an explicit maxRetries keeps Istio\'s limit', () => {
  const dr = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy:
    retryBudget: {percent: 50, minRetryConcurrency: 10}
  subsets:
  - name: v1
    labels: {app: echo}
    trafficPolicy: {retryBudget: {percent: 5}}
  - name: capped
    labels: {app: echo}
    trafficPolicy: {retryBudget: null, connectionPool: {http: {maxRetries: 2}}}
`;
  assert.deepEqual(thresholds(dr).retry_budget, { budget_percent: { value: 50 }, min_retry_concurrency: 10 });
  assert.deepEqual(thresholds(dr, MESH, 'v1').retry_budget, { budget_percent: { value: 5 }, min_retry_concurrency: 3 });
  // The rule's own budget also holds with the default switched off.
  assert.deepEqual(thresholds(dr, { ...MESH, defaultRetryBudget: false }).retry_budget, { budget_percent: { value: 50 }, min_retry_concurrency: 10 });
  const explicit = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy: {connectionPool: {http: {maxRetries: 2}}}
`;
  const t = thresholds(explicit);
  assert.equal(t.max_retries, 2);
  assert.equal(t.retry_budget, undefined, 'Envoy ignores max_retries under a budget: the user\'s limit wins');
});

test('proxyless gRPC clusters carry no default budget (grpc-js-xds has none to enforce)', () => {
  const push = pushFromYaml(svc, workloads);
  const c = buildGrpcClusters(push, proxyFor({ namespace: 'default' }, { GENERATOR: 'grpc' })).find((x) => x.name === 'outbound|7070||echo.default.svc.cluster.local');
  assert.ok(c);
  assert.equal(c.circuit_breakers?.thresholds?.[0]?.retry_budget, undefined);
});

test('tcp keepalive, maxConnectionDuration and HTTP idleTimeout reach the cluster', () => {
  const dr = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy:
    connectionPool:
      tcp: {maxConnectionDuration: 30s, tcpKeepalive: {time: 60s, interval: 10s, probes: 3}}
      http: {idleTimeout: 5s, http1MaxPendingRequests: 7}
`;
  const c = get(buildClusters(pushFromYaml(svc + dr, workloads), proxyFor({ namespace: 'default' })), HTTP);
  assert.deepEqual(c.upstream_connection_options, { tcp_keepalive: { keepalive_probes: 3, keepalive_time: 60, keepalive_interval: 10 } });
  assert.deepEqual(c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].common_http_protocol_options, { idle_timeout: '5s', max_connection_duration: '30s' });
  assert.equal(c.circuit_breakers.thresholds[0].max_pending_requests, 7);
});

test('useClientProtocol: the cluster follows the downstream protocol; a gRPC port stays HTTP/2', () => {
  const dr = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy: {connectionPool: {http: {useClientProtocol: true, h2UpgradePolicy: UPGRADE}}}
`;
  const clusters = buildClusters(pushFromYaml(svc + dr, workloads, MESH), proxyFor({ namespace: 'default' }));
  const opts = (name: string) => get(clusters, name).typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.deepEqual(opts(HTTP).use_downstream_protocol_config, { http_protocol_options: {}, http2_protocol_options: {} });
  assert.equal(opts(HTTP).explicit_http_config, undefined, 'h2UpgradePolicy has no effect with useClientProtocol');
  const grpc = opts('outbound|7070||echo.default.svc.cluster.local');
  assert.ok(grpc.explicit_http_config.http2_protocol_options);
  assert.equal(grpc.use_downstream_protocol_config, undefined);
});

test('TCP ports: connectionPool.tcp idleTimeout and maxConnectionDuration reach the outbound tcp_proxy of that destination', () => {
  const tcpSvc = `
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {selector: {app: db}, ports: [{name: tcp, port: 5432}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db}
spec:
  host: db
  trafficPolicy: {connectionPool: {tcp: {idleTimeout: 30s, maxConnectionDuration: 1h}}}
`;
  const push = pushFromYaml(tcpSvc, [workload('db-1', '127.0.2.9', { app: 'db' })], MESH);
  const proxies = buildListeners(push, proxyFor({ namespace: 'default' })).flatMap((l) =>
    (l.resource.filter_chains ?? []).flatMap((c: any) => c.filters.filter((f: any) => f.name === 'envoy.filters.network.tcp_proxy').map((f: any) => f.typed_config)),
  );
  const db = proxies.find((p) => p.cluster === 'outbound|5432||db.default.svc.cluster.local');
  assert.ok(db, 'a tcp_proxy to the db cluster');
  assert.equal(db.idle_timeout, '30s');
  assert.equal(db.max_downstream_connection_duration, '3600s');
  const passthrough = proxies.find((p) => p.cluster === 'PassthroughCluster');
  assert.equal(passthrough?.idle_timeout, undefined, 'other destinations keep the default');
});
