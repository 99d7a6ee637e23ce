import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeResource, encodeResource, formatDuration, normalize, parseDuration, toAny, unpackAny, CodecError } from '../../src/xds/codec.ts';
import { TYPE } from '../../src/xds/types.ts';

const listener = {
  name: '0.0.0.0_9080',
  address: { socket_address: { address: '0.0.0.0', port_value: 9080 } },
  filter_chains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
            stat_prefix: 'outbound_0.0.0.0_9080',
            rds: { route_config_name: '9080', config_source: { ads: {}, resource_api_version: 'V3' } },
            http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
            stream_idle_timeout: '300s',
            common_http_protocol_options: { idle_timeout: '3600s' },
          },
        },
      ],
    },
  ],
  bind_to_port: false,
};

test('a listener with nested Any, durations and wrappers round-trips through protobuf', () => {
  const bytes = encodeResource(TYPE.LISTENER, listener);
  assert.ok(bytes.length > 50);
  assert.deepEqual(decodeResource(TYPE.LISTENER, bytes), listener);
});

test('cluster fields: enums by name, uint32 wrappers, durations with fractions, Struct metadata', () => {
  const cluster = {
    name: 'outbound|9080|v1|reviews.default.svc.cluster.local',
    type: 'EDS',
    connect_timeout: '0.25s',
    lb_policy: 'LEAST_REQUEST',
    circuit_breakers: { thresholds: [{ max_connections: 100, max_requests: 1024 }] },
    metadata: { filter_metadata: { istio: { services: [{ host: 'reviews.default.svc.cluster.local', name: 'reviews' }] } } },
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
  };
  assert.deepEqual(normalize(TYPE.CLUSTER, cluster), cluster);
});

test('unknown fields and bad values are rejected with their path', () => {
  assert.throws(() => encodeResource(TYPE.CLUSTER, { name: 'x', no_such_field: 1 }), (e: unknown) => e instanceof CodecError && /Cluster\.no_such_field: unknown field/.test(e.message));
  assert.throws(() => encodeResource(TYPE.CLUSTER, { name: 'x', lb_policy: 'BANANA' }), /lb_policy: invalid enum value "BANANA"/);
  assert.throws(() => encodeResource(TYPE.CLUSTER, { name: 'x', connect_timeout: '10' }), /connect_timeout: invalid duration/);
  assert.throws(() => encodeResource(TYPE.LISTENER, { name: 'x', filter_chains: [{ filters: [{ name: 'f', typed_config: { '@type': 'type.googleapis.com/no.such.Type' } }] }] }), /filter_chains\[0\]\.filters\[0\]\.typed_config: unknown type/);
});

test('durations parse and format like proto3 JSON', () => {
  assert.deepEqual(parseDuration('1.5s'), { seconds: 1, nanos: 500000000 });
  assert.equal(formatDuration({ seconds: 0, nanos: 1000000 }), '0.001s');
  assert.equal(formatDuration(parseDuration('300s')), '300s');
});

test('Any packs and unpacks, including a well-known type', () => {
  const a = toAny({ '@type': TYPE.ROUTE, name: '9080', virtual_hosts: [{ name: 'a', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }] });
  assert.equal(a.type_url, TYPE.ROUTE);
  assert.equal(unpackAny(a).virtual_hosts[0].routes[0].direct_response.status, 200);
  const w = toAny({ '@type': 'type.googleapis.com/google.protobuf.UInt32Value', value: 7 });
  assert.deepEqual(unpackAny(w), { '@type': 'type.googleapis.com/google.protobuf.UInt32Value', value: 7 });
});
