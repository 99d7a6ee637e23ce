/**
 * The HCM `tracing` block pilot builds (Istio's configureTracingFromTelemetry): meshConfig's
 * legacy tracing, extension providers with Istio's cluster names, the Telemetry API per mode,
 * Istio's literal tags per workload; and the LDS shapes that keep those tags per workload.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MeshConfig } from '../../src/api/types.ts';
import { generate } from '../../src/pilot/generator.ts';
import { proxyShapeKey } from '../../src/pilot/shape_key.ts';
import { buildPushContext } from '../../src/pilot/push_context.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';
import { TYPE } from '../../src/xds/types.ts';
import { walkResource } from '../../src/proxy/config/support_walker.ts';
import { bookinfoProxy, bookinfoPush, MESH, parseYamlText, realRegistry } from './fixtures.ts';

function hcms(listeners: Array<{ name: string; resource: EnvoyJson }>): Array<{ listener: string; direction: string; hcm: EnvoyJson }> {
  const out: Array<{ listener: string; direction: string; hcm: EnvoyJson }> = [];
  for (const { name, resource: l } of listeners) {
    for (const fc of [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])]) {
      for (const f of fc.filters ?? []) if (f.name === 'envoy.filters.network.http_connection_manager') out.push({ listener: name, direction: l.traffic_direction ?? '', hcm: f.typed_config });
    }
  }
  return out;
}

function render(mesh: MeshConfig, prefix = 'productpage', extraYaml = '') {
  const { push: base, workloads, configs } = bookinfoPush([], mesh);
  const all = [...configs, ...parseYamlText(extraYaml)];
  const push = extraYaml ? buildPushContext({ mesh, configs: all, registry: realRegistry(all, workloads) }) : base;
  const proxy = bookinfoProxy(workloads, prefix);
  const listeners = generate(push, proxy, TYPE.LISTENER);
  const clusters = generate(push, proxy, TYPE.CLUSTER);
  for (const l of listeners) assert.deepEqual(walkResource('envoy.config.listener.v3.Listener', l.resource).filter((f) => f.support === 'unsupported'), [], `the proxy accepts ${l.name}`);
  return { push, proxy, workloads, hcms: hcms(listeners), clusters: new Map(clusters.map((c) => [c.name, c.resource as EnvoyJson])) };
}

test('tracing off (the default): no tracing block, no collector cluster', () => {
  const r = render(MESH);
  assert.ok(r.hcms.length > 0);
  assert.ok(r.hcms.every((h) => h.hcm.tracing === undefined));
  assert.equal(r.clusters.has('zipkin'), false);
});

test('enableTracing with defaultConfig.tracing: sampling, the zipkin cluster, Istio\'s tags on every HCM', () => {
  const r = render({ ...MESH, enableTracing: true, defaultConfig: { tracing: { sampling: 100, zipkin: { address: '127.0.0.1:9411' }, customTags: { env: { environment: { name: 'HOME', defaultValue: '-' } } } } } });
  for (const { hcm } of r.hcms) {
    const t = hcm.tracing;
    assert.deepEqual(t.random_sampling, { value: 100 });
    assert.equal(t.provider.typed_config.collector_cluster, 'zipkin');
    assert.equal(t.provider.typed_config.collector_endpoint, '/api/v2/spans');
    assert.equal(t.provider.typed_config.trace_id_128bit, true);
    assert.equal(t.provider.typed_config.shared_span_context, false);
    const tags = Object.fromEntries(t.custom_tags.map((c: EnvoyJson) => [c.tag, c.literal?.value ?? c.environment?.name]));
    assert.deepEqual(tags, { env: 'HOME', 'istio.canonical_revision': 'v1', 'istio.canonical_service': 'productpage', 'istio.mesh_id': 'cluster.local', 'istio.namespace': 'default' });
  }
  const z = r.clusters.get('zipkin')!;
  assert.equal(z.type, 'STATIC');
  assert.equal(z.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, 9411);
});

test('enableTracing alone: Istio\'s 1% and the zipkin.istio-system:9411 address', () => {
  const r = render({ ...MESH, enableTracing: true });
  assert.deepEqual(r.hcms[0]!.hcm.tracing.random_sampling, { value: 1 });
  assert.equal(r.clusters.get('zipkin')!.type, 'STRICT_DNS');
});

const OTEL_MESH: MeshConfig = {
  ...MESH,
  extensionProviders: [
    { name: 'otel', opentelemetry: { service: 'otel-collector.observability.svc.cluster.local', port: 4318, maxTagLength: 99, http: { path: '/v1/traces', timeout: '2s' } } },
    { name: 'zipkin-svc', zipkin: { service: 'details.default.svc.cluster.local', port: 9080 } },
  ],
  defaultProviders: { tracing: ['otel'] },
};

test('defaultProviders.tracing names an opentelemetry provider: OTLP/HTTP to its cluster, Istio\'s name', () => {
  const r = render(OTEL_MESH);
  const t = r.hcms[0]!.hcm.tracing;
  assert.equal(t.provider.name, 'envoy.tracers.opentelemetry');
  const name = 'outbound|4318||otel-collector.observability.svc.cluster.local';
  assert.deepEqual(t.provider.typed_config.http_service.http_uri, { uri: 'http://otel-collector.observability.svc.cluster.local:4318/v1/traces', cluster: name, timeout: '2s' });
  assert.equal(t.provider.typed_config.service_name, 'productpage.default');
  assert.equal(t.max_path_tag_length, 99);
  assert.ok(r.clusters.has(name), 'a service outside the registry gets a cluster of its own');
});

test('Telemetry: a provider in the registry uses its outbound cluster; sampling and disableSpanReporting per mode', () => {
  const yaml = `
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: t, namespace: default}
spec:
  selector: {matchLabels: {app: productpage}}
  tracing:
  - providers: [{name: zipkin-svc}]
    randomSamplingPercentage: 25
    useRequestIdForTraceSampling: false
    customTags: {team: {literal: {value: books}}, user: {header: {name: end-user}}}
  - match: {mode: SERVER}
    disableSpanReporting: true
`;
  const r = render(OTEL_MESH, 'productpage', yaml);
  const inbound = r.hcms.filter((h) => h.hcm.stat_prefix.startsWith('inbound'));
  const outbound = r.hcms.filter((h) => !h.hcm.stat_prefix.startsWith('inbound'));
  assert.ok(inbound.length > 0 && outbound.length > 0);
  assert.ok(inbound.every((h) => h.hcm.tracing === undefined), 'SERVER: span reporting disabled');
  for (const { hcm } of outbound) {
    assert.equal(hcm.tracing.provider.typed_config.collector_cluster, 'outbound|9080||details.default.svc.cluster.local');
    assert.equal(hcm.tracing.provider.typed_config.collector_hostname, 'details.default.svc.cluster.local');
    assert.deepEqual(hcm.tracing.random_sampling, { value: 25 });
    assert.equal(hcm.request_id_extension.typed_config.use_request_id_for_trace_sampling, false);
    const tags = hcm.tracing.custom_tags.map((c: EnvoyJson) => c.tag);
    assert.deepEqual(tags, [...tags].sort(), 'sorted, as Istio');
    assert.ok(hcm.tracing.custom_tags.some((c: EnvoyJson) => c.tag === 'user' && c.request_header?.name === 'end-user'));
  }
  // Another workload is not selected: the mesh default provider (otel) applies to it.
  const details = render(OTEL_MESH, 'details', yaml);
  assert.equal(details.hcms[0]!.hcm.tracing.provider.name, 'envoy.tracers.opentelemetry');
});

test('with tracing on, two revisions of reviews have their own LDS (their spans carry their revision); with it off they share one', () => {
  const shapes = (mesh: MeshConfig) => {
    const { push, workloads } = bookinfoPush([], mesh);
    const v1 = bookinfoProxy(workloads, 'reviews-v1');
    // The same pod under another canonical revision (a label no selector reads).
    const v3 = { ...v1, labels: { ...v1.labels, 'service.istio.io/canonical-revision': 'v3' } };
    return [proxyShapeKey(v1, TYPE.LISTENER, push), proxyShapeKey(v3, TYPE.LISTENER, push)];
  };
  const [a, b] = shapes(MESH);
  assert.equal(a, b);
  const [c, d] = shapes({ ...MESH, enableTracing: true });
  assert.notEqual(c, d);
  const r = render({ ...MESH, enableTracing: true }, 'reviews-v3');
  assert.ok(r.hcms[0]!.hcm.tracing.custom_tags.some((t: EnvoyJson) => t.tag === 'istio.canonical_revision' && t.literal.value === 'v3'));
});
