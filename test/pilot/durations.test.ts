/**
 * Issue 7, bug 1: Istio durations written the Go way ("1m30s", ".5s", "1h", "250ms") reach the
 * proxy as the same duration in Envoy's JSON form, in every field pilot translates. Before, the
 * pilot's own reader knew one unit per value: "1m30s" became no timeout at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { decodeResource, encodeResource, parseDuration } from '../../src/xds/codec.ts';
import { TYPE } from '../../src/xds/types.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { proxyFor, pushFromYaml } from './fixtures.ts';

const YAML = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - timeout: 1m30s
    retries: {attempts: 2, perTryTimeout: 250ms}
    fault: {delay: {fixedDelay: .5s, percentage: {value: 100}}}
    route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {connectTimeout: 250ms, maxConnectionDuration: 1h, tcpKeepalive: {time: 1m30s, interval: 1m}}
      http: {idleTimeout: 1m30s}
    outlierDetection: {consecutive5xxErrors: 3, interval: .5s, baseEjectionTime: 1m30s}
`;

const push = pushFromYaml(YAML);
const proxy = proxyFor({ namespace: 'default', labels: { app: 'productpage' } });

function only(type: string, name: string): EnvoyJson {
  const r = generate(push, proxy, type as never, [name]);
  assert.equal(r.length, 1, `${name} generated`);
  // What the proxy receives is the encoded message: it must survive the codec unchanged.
  return decodeResource(type, encodeResource(type, r[0]!.resource));
}

test('VirtualService durations: timeout 1m30s, perTryTimeout 250ms, fixedDelay .5s', () => {
  const rc = only(TYPE.ROUTE, '9080');
  const vh = rc.virtual_hosts.find((v: EnvoyJson) => v.name === 'reviews.default.svc.cluster.local:9080');
  const route = vh.routes[0];
  assert.equal(route.route.timeout, '90s');
  assert.equal(route.route.max_grpc_timeout, '90s');
  assert.equal(route.route.retry_policy.per_try_timeout, '0.25s');
  const fault = route.typed_per_filter_config['envoy.filters.http.fault'];
  assert.equal(fault.delay.fixed_delay, '0.5s');
});

test('DestinationRule durations: connectTimeout, idleTimeout, maxConnectionDuration, outlier interval and ejection, keepalive', () => {
  const c = only(TYPE.CLUSTER, 'outbound|9080||reviews.default.svc.cluster.local');
  assert.equal(c.connect_timeout, '0.25s');
  const opts = c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.equal(opts.common_http_protocol_options.idle_timeout, '90s');
  assert.equal(opts.common_http_protocol_options.max_connection_duration, '3600s');
  assert.equal(c.outlier_detection.interval, '0.5s');
  assert.equal(c.outlier_detection.base_ejection_time, '90s');
  // Envoy's keepalive fields are whole seconds.
  assert.equal(c.upstream_connection_options.tcp_keepalive.keepalive_time, 90);
  assert.equal(c.upstream_connection_options.tcp_keepalive.keepalive_interval, 60);
});

test('the xDS codec reads durations with the shared reader but only in proto3 JSON form', () => {
  assert.deepEqual(parseDuration('1.5s'), { seconds: 1, nanos: 500_000_000 });
  assert.deepEqual(parseDuration('-2s'), { seconds: -2, nanos: 0 });
  assert.deepEqual(parseDuration({ seconds: '3', nanos: 5 }), { seconds: 3, nanos: 5 });
  // Go-style text is Istio's YAML, not Envoy's JSON: the pilot converts it before encoding.
  for (const bad of ['1m30s', '.5s', '250ms', '1h', 'x']) assert.throws(() => parseDuration(bad), /invalid duration/, bad);
  assert.throws(() => parseDuration({ seconds: 1, nanos: 2e9 }), /invalid duration/);
});
