/**
 * The HttpConnectionManager `tracing` block (Istio's configureTracingFromTelemetry): the Telemetry
 * API's tracing for the listener's mode (CLIENT for outbound and gateways, SERVER for inbound),
 * else meshConfig's legacy tracing when enableTracing is set. The provider is the first Telemetry
 * provider found in meshConfig.extensionProviders (zipkin, or opentelemetry over OTLP/HTTP), else
 * defaultConfig.tracing.zipkin.address (Istio's bootstrap `zipkin` cluster, here sent over CDS).
 * Spans carry Istio's literal tags (istio.canonical_service, canonical_revision, mesh_id,
 * namespace) and the custom tags, sorted by name as Istio does.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { effectiveTelemetry, type CustomTag, type TracingSpec } from '../telemetry/effective.ts';
import { pushIndex } from '../push_context.ts';
import { TRACING } from '../../xds/type_urls.ts';

const { ZIPKIN: ZIPKIN_TYPE, OPENTELEMETRY: OTEL_TYPE, UUID_REQUEST_ID: UUID_REQUEST_ID_TYPE } = TRACING;
/** Istio's mesh default for defaultConfig.tracing.zipkin.address. */
export const DEFAULT_ZIPKIN_ADDRESS = 'zipkin.istio-system:9411';
/** Istio's bootstrap cluster for the legacy zipkin address. */
export const LEGACY_ZIPKIN_CLUSTER = 'zipkin';
/** PILOT_TRACE_SAMPLING's default: 1%. */
export const DEFAULT_SAMPLING = 1;

type Mode = 'CLIENT' | 'SERVER';

interface ProxyTracing {
  sampling?: number;
  zipkin?: { address?: string };
  customTags?: Record<string, CustomTag>;
  maxPathTagLength?: number;
}

interface Provider {
  /** HCM tracing.provider. */
  provider: EnvoyJson;
  /** A cluster pilot must add (the provider's service is not in the registry), if any. */
  cluster?: EnvoyJson;
  maxPathTagLength?: number;
}

function proxyTracing(push: PushContext): ProxyTracing {
  return ((push.mesh.defaultConfig?.tracing as ProxyTracing | undefined) ?? {}) as ProxyTracing;
}

/** Istio's canonical service and revision of a workload, from its labels. */
export function canonicalNames(proxy: Proxy): { service: string; revision: string } {
  const l = proxy.labels;
  return {
    service: l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l.app ?? proxy.workloadName,
    revision: l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l.version ?? 'latest',
  };
}

/** Whether any HCM of this push may carry a tracing block (the LDS shape then depends on labels). */
export function tracingMayApply(push: PushContext): boolean {
  return push.mesh.enableTracing === true || (push.mesh.defaultProviders?.tracing?.length ?? 0) > 0 || (pushIndex(push).byKind.get('Telemetry') ?? []).some((c) => c.spec?.tracing);
}

/** `host:port` → a STATIC (IP) or STRICT_DNS (name) cluster with one endpoint. */
function addressCluster(name: string, host: string, port: number): EnvoyJson {
  const ip = /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(':');
  return {
    name,
    type: ip ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: '1s',
    lb_policy: 'ROUND_ROBIN',
    ...(ip ? {} : { dns_lookup_family: 'V4_ONLY' }),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }] },
  };
}

/**
 * Istio's lookupCluster: the provider's service in the registry (its full hostname, or
 * `<name>.<namespace>`) gives `outbound|<port>||<fqdn>`; a service that is not there (an IP, an
 * external name) gets a cluster of its own under the same name.
 */
function collectorCluster(push: PushContext, proxy: Proxy, service: string, port: number): { name: string; hostname: string; cluster?: EnvoyJson } {
  const host = service.includes('/') ? service.slice(service.indexOf('/') + 1) : service;
  const fqdn = [host, `${host}.svc.${proxy.dnsDomain.split('.svc.')[1] ?? 'cluster.local'}`].find((h) => pushIndex(push).servicesByHost.has(h));
  const hostname = fqdn ?? host;
  const name = `outbound|${port}||${hostname}`;
  return fqdn ? { name, hostname } : { name, hostname, cluster: addressCluster(name, host, port) };
}

function extensionProvider(push: PushContext, proxy: Proxy, name: string): Provider | undefined {
  const p = push.mesh.extensionProviders?.find((e) => e.name === name) as Record<string, any> | undefined;
  if (!p) return undefined;
  if (p.zipkin) {
    const z = p.zipkin;
    const c = collectorCluster(push, proxy, String(z.service ?? ''), Number(z.port ?? 9411));
    const typed: EnvoyJson = {
      '@type': ZIPKIN_TYPE,
      collector_cluster: c.name,
      collector_endpoint: z.path || '/api/v2/spans',
      collector_endpoint_version: 'HTTP_JSON',
      trace_id_128bit: true,
      shared_span_context: false,
      collector_hostname: c.hostname,
    };
    return { provider: { name: 'envoy.tracers.zipkin', typed_config: typed }, cluster: c.cluster, maxPathTagLength: z.maxTagLength || undefined };
  }
  if (p.opentelemetry?.http) {
    const o = p.opentelemetry;
    const port = Number(o.port ?? 4318);
    const c = collectorCluster(push, proxy, String(o.service ?? ''), port);
    const path = o.http.path ? (String(o.http.path).startsWith('/') ? o.http.path : `/${o.http.path}`) : '/v1/traces';
    const { service } = canonicalNames(proxy);
    const typed: EnvoyJson = {
      '@type': OTEL_TYPE,
      http_service: { http_uri: { uri: `http://${c.hostname}:${port}${path}`, cluster: c.name, timeout: o.http.timeout ?? '3s' } },
      service_name: `${service}.${proxy.namespace}`,
    };
    return { provider: { name: 'envoy.tracers.opentelemetry', typed_config: typed }, cluster: c.cluster, maxPathTagLength: o.maxTagLength || undefined };
  }
  return undefined;
}

/** defaultConfig.tracing.zipkin.address as Istio's bootstrap zipkin tracer. */
function legacyProvider(push: PushContext): Provider {
  const address = proxyTracing(push).zipkin?.address || DEFAULT_ZIPKIN_ADDRESS;
  const i = address.lastIndexOf(':');
  const host = i > 0 ? address.slice(0, i) : address;
  const port = i > 0 ? Number(address.slice(i + 1)) : 9411;
  const typed: EnvoyJson = {
    '@type': ZIPKIN_TYPE,
    collector_cluster: LEGACY_ZIPKIN_CLUSTER,
    collector_endpoint: '/api/v2/spans',
    collector_endpoint_version: 'HTTP_JSON',
    trace_id_128bit: true,
    shared_span_context: false,
    collector_hostname: host,
  };
  return { provider: { name: 'envoy.tracers.zipkin', typed_config: typed }, cluster: addressCluster(LEGACY_ZIPKIN_CLUSTER, host, port) };
}

interface Resolved {
  spec?: TracingSpec;
  provider?: Provider;
}

const resolved = new WeakMap<Proxy, { push: PushContext; CLIENT?: Resolved | null; SERVER?: Resolved | null }>();

/** What tracing a listener of `mode` gets (once per proxy and push); undefined: none. */
function resolve(push: PushContext, proxy: Proxy, mode: Mode): Resolved | undefined {
  let hit = resolved.get(proxy);
  if (!hit || hit.push !== push) resolved.set(proxy, (hit = { push }));
  if (hit[mode] === undefined) hit[mode] = resolveUncached(push, proxy, mode) ?? null;
  return hit[mode] ?? undefined;
}

function resolveUncached(push: PushContext, proxy: Proxy, mode: Mode): Resolved | undefined {
  if (!tracingMayApply(push)) return undefined;
  const spec = effectiveTelemetry(push, proxy).tracingByMode?.[mode];
  if (!spec) return push.mesh.enableTracing ? { provider: legacyProvider(push) } : undefined;
  if (spec.disableSpanReporting) return undefined;
  for (const name of spec.providers) {
    const provider = extensionProvider(push, proxy, name);
    if (provider) return { spec, provider };
  }
  // No usable provider: Envoy falls back to the bootstrap's tracer, which is the legacy one.
  return { spec, provider: push.mesh.enableTracing ? legacyProvider(push) : undefined };
}

function customTag(tag: string, c: CustomTag): EnvoyJson | undefined {
  if (c.literal) return { tag, literal: { value: String(c.literal.value ?? '') } };
  if (c.environment) return { tag, environment: { name: c.environment.name, ...(c.environment.defaultValue ? { default_value: c.environment.defaultValue } : {}) } };
  if (c.header) return { tag, request_header: { name: c.header.name, ...(c.header.defaultValue ? { default_value: c.header.defaultValue } : {}) } };
  return undefined;
}

/**
 * The HCM fields for tracing a listener of `mode` — `tracing`, and `request_id_extension` when
 * the Telemetry turns useRequestIdForTraceSampling off — or undefined when tracing does not apply.
 */
export function hcmTracing(push: PushContext, proxy: Proxy, mode: Mode): EnvoyJson | undefined {
  const r = resolve(push, proxy, mode);
  if (!r) return undefined;
  const legacy = proxyTracing(push);
  const sampling = r.spec?.randomSamplingPercentage ?? legacy.sampling ?? DEFAULT_SAMPLING;
  const { service, revision } = canonicalNames(proxy);
  const tags: Record<string, CustomTag> = {
    ...(r.spec ? r.spec.customTags : legacy.customTags),
    'istio.canonical_revision': { literal: { value: revision } },
    'istio.canonical_service': { literal: { value: service } },
    'istio.mesh_id': { literal: { value: String(proxy.metadata.MESH_ID ?? push.mesh.trustDomain) } },
    'istio.namespace': { literal: { value: proxy.namespace } },
  };
  const customTags = Object.keys(tags)
    .sort()
    .map((k) => customTag(k, tags[k]!))
    .filter((t): t is EnvoyJson => t !== undefined);
  const out: EnvoyJson = {
    client_sampling: { value: 100 },
    random_sampling: { value: sampling },
    overall_sampling: { value: 100 },
    custom_tags: customTags,
  };
  const maxPath = r.provider?.maxPathTagLength ?? legacy.maxPathTagLength;
  if (maxPath) out.max_path_tag_length = maxPath;
  if (r.provider) out.provider = r.provider.provider;
  const fields: EnvoyJson = { tracing: out };
  if (r.spec?.useRequestIdForTraceSampling === false) {
    fields.request_id_extension = { typed_config: { '@type': UUID_REQUEST_ID_TYPE, use_request_id_for_trace_sampling: false } };
  }
  return fields;
}

/** Clusters the tracing providers of this proxy need that CDS has no other reason to send. */
export function tracingClusters(push: PushContext, proxy: Proxy): EnvoyJson[] {
  if (!tracingMayApply(push)) return [];
  const out = new Map<string, EnvoyJson>();
  for (const mode of ['CLIENT', 'SERVER'] as const) {
    const c = resolve(push, proxy, mode)?.provider?.cluster;
    if (c) out.set(c.name, c);
  }
  return [...out.values()];
}
