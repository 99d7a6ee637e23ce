/**
 * Istio's telemetry filters in the pilot's listeners: peer_metadata first and istio.stats before
 * the router on every HCM (inbound: downstream discovery/propagation; outbound: upstream), the
 * metadata exchange on inbound mTLS TCP chains (with ALPN istio-peer-exchange) and istio.stats
 * before tcp_proxy; the Telemetry API's metric overrides in stats.PluginConfig per direction
 * (disabled → drop, tagOverrides → dimensions / tags_to_remove; ALL_METRICS disabled → no stats).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/pilot/generator.ts';
import { TYPE, type EnvoyJson } from '../../src/xds/types.ts';
import { ISTIO_FILTER, NETWORK_FILTER } from '../../src/xds/type_urls.ts';
import { MESH, proxyFor, pushFromYaml, workload } from './fixtures.ts';
import { routerProxy } from './gateway/helpers.ts';

const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}, {name: tcp, port: 9000}]}
`;

interface Side {
  http: EnvoyJson[][];
  tcp: { filters: EnvoyJson[]; chain: EnvoyJson }[];
}

function bySide(telemetry: string): { inbound: Side; outbound: Side } {
  const w = workload('reviews-v1', '10.0.0.5', { app: 'reviews', version: 'v1' });
  const push = pushFromYaml(`${SERVICES}\n---\n${telemetry}`, [w], MESH);
  const out = { inbound: { http: [], tcp: [] } as Side, outbound: { http: [], tcp: [] } as Side };
  for (const { resource: l } of generate(push, proxyFor(w), TYPE.LISTENER as never, undefined)) {
    const side = l.traffic_direction === 'INBOUND' ? out.inbound : out.outbound;
    for (const chain of [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])]) {
      const fs: EnvoyJson[] = chain.filters ?? [];
      const hcm = fs.find((f) => f.typed_config?.['@type'] === NETWORK_FILTER.HTTP_CONNECTION_MANAGER);
      if (hcm) side.http.push(hcm.typed_config.http_filters);
      else if (fs.some((f) => f.typed_config?.['@type'] === NETWORK_FILTER.TCP_PROXY)) side.tcp.push({ filters: fs, chain });
    }
  }
  return out;
}

const pluginConfig = (f: EnvoyJson | undefined) => f?.typed_config?.value;

test('every HCM: peer_metadata first, istio.stats just before the router, the right side of the exchange', () => {
  const { inbound, outbound } = bySide('');
  assert.ok(inbound.http.length > 0 && outbound.http.length > 0);
  for (const [side, lists] of [['inbound', inbound.http], ['outbound', outbound.http]] as const) {
    for (const fs of lists) {
      assert.equal(fs[0]!.name, 'envoy.filters.http.peer_metadata');
      assert.equal(fs[0]!.typed_config.type_url, ISTIO_FILTER.PEER_METADATA);
      const v = fs[0]!.typed_config.value;
      if (side === 'inbound') assert.deepEqual(Object.keys(v).sort(), ['downstream_discovery', 'downstream_propagation']);
      else assert.deepEqual(Object.keys(v).sort(), ['upstream_discovery', 'upstream_propagation']);
      assert.equal(fs[fs.length - 2]!.name, 'istio.stats');
      assert.equal(fs[fs.length - 2]!.typed_config.type_url, ISTIO_FILTER.STATS);
      assert.equal(fs[fs.length - 1]!.name, 'envoy.filters.http.router');
    }
  }
});

test('TCP chains: metadata exchange on inbound mTLS chains only (ALPN istio-peer-exchange offered), stats before tcp_proxy', () => {
  const { inbound, outbound } = bySide('');
  const mtls = inbound.tcp.filter((c) => c.chain.transport_socket);
  assert.ok(mtls.length > 0, 'an inbound mTLS TCP chain');
  for (const c of mtls) {
    assert.deepEqual(c.filters.map((f) => f.name), ['istio.metadata_exchange', 'istio.stats', 'envoy.filters.network.tcp_proxy']);
    assert.deepEqual(c.filters[0]!.typed_config.value, { protocol: 'istio-peer-exchange' });
    assert.equal(c.chain.transport_socket.typed_config.common_tls_context.alpn_protocols[0], 'istio-peer-exchange');
  }
  for (const c of [...inbound.tcp.filter((x) => !x.chain.transport_socket), ...outbound.tcp]) {
    assert.deepEqual(c.filters.map((f) => f.name).slice(-2), ['istio.stats', 'envoy.filters.network.tcp_proxy']);
    assert.ok(!c.filters.some((f) => f.name === 'istio.metadata_exchange'));
  }
});

test('Telemetry overrides become stats.PluginConfig metrics per direction', () => {
  const { inbound, outbound } = bySide(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: m, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      disabled: true
    - match: {metric: REQUEST_DURATION, mode: CLIENT}
      tagOverrides:
        request_host: {value: request.host}
        response_flags: {operation: REMOVE}
`);
  const serverCfg = pluginConfig(inbound.http[0]!.find((f) => f.name === 'istio.stats'));
  const clientCfg = pluginConfig(outbound.http[0]!.find((f) => f.name === 'istio.stats'));
  assert.deepEqual(serverCfg, { metrics: [{ name: 'requests_total', drop: true }], disable_host_header_fallback: true });
  assert.deepEqual(clientCfg, { metrics: [{ name: 'request_duration_milliseconds', dimensions: { request_host: 'request.host' }, tags_to_remove: ['response_flags'] }] });
});

test('ALL_METRICS disabled for the server side: no istio.stats inbound, still outbound', () => {
  const { inbound, outbound } = bySide(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: m, namespace: default}
spec:
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: ALL_METRICS, mode: SERVER}
      disabled: true
`);
  for (const fs of inbound.http) assert.ok(!fs.some((f) => f.name === 'istio.stats'));
  for (const c of inbound.tcp) assert.ok(!c.filters.some((f) => f.name === 'istio.stats'));
  for (const fs of outbound.http) assert.ok(fs.some((f) => f.name === 'istio.stats'));
});

test('disable_host_header_fallback as Istio sets it: inbound and gateways, not outbound sidecars', () => {
  const { inbound, outbound } = bySide('');
  const statsOf = (fs: EnvoyJson[]) => pluginConfig(fs.find((f) => f.name === 'istio.stats'));
  for (const fs of inbound.http) assert.equal(statsOf(fs).disable_host_header_fallback, true);
  for (const c of inbound.tcp) assert.equal(statsOf(c.filters).disable_host_header_fallback, true);
  for (const fs of outbound.http) assert.equal(statsOf(fs).disable_host_header_fallback, undefined);
  const gw = workload('istio-ingressgateway', '10.0.0.9', { istio: 'ingressgateway' }, { namespace: 'istio-system' });
  const push = pushFromYaml(`${SERVICES}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
`, [gw], MESH);
  const hcms = generate(push, routerProxy({ istio: 'ingressgateway' }), TYPE.LISTENER as never, undefined).flatMap(({ resource: l }) => (l.filter_chains ?? []).flatMap((c: EnvoyJson) => c.filters.filter((f: EnvoyJson) => f.typed_config?.['@type'] === NETWORK_FILTER.HTTP_CONNECTION_MANAGER)));
  assert.ok(hcms.length > 0, 'the gateway has an HCM');
  for (const h of hcms) assert.equal(statsOf(h.typed_config.http_filters).disable_host_header_fallback, true);
});

test('Telemetry metrics.reportingInterval becomes tcp_reporting_duration; the most specific level wins', () => {
  const { inbound, outbound } = bySide(`
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh, namespace: istio-system}
spec:
  metrics:
  - providers: [{name: prometheus}]
    reportingInterval: 30s
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: reviews, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  metrics:
  - providers: [{name: prometheus}]
    reportingInterval: 2s
`);
  const statsOf = (fs: EnvoyJson[]) => pluginConfig(fs.find((f) => f.name === 'istio.stats'));
  for (const fs of [...inbound.http, ...outbound.http]) assert.equal(statsOf(fs).tcp_reporting_duration, '2s');
  for (const c of [...inbound.tcp, ...outbound.tcp]) assert.equal(statsOf(c.filters).tcp_reporting_duration, '2s');
  const none = bySide('');
  for (const c of none.outbound.tcp) assert.equal(statsOf(c.filters).tcp_reporting_duration, undefined, 'unset: the proxy default (5 s)');
});
