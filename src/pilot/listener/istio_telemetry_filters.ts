/**
 * Istio's telemetry filters on every listener a proxy gets, as Istio's pilot inserts them:
 * - HTTP (each http_connection_manager): envoy.filters.http.peer_metadata first (the
 *   x-envoy-peer-metadata exchange: inbound discovers the downstream and answers with its own;
 *   outbound and gateways send their own and discover the upstream, so at a gateway the headers
 *   never cross the mesh edge), and istio.stats just before the router.
 * - TCP (each tcp_proxy chain): istio.metadata_exchange on inbound mTLS chains (the
 *   istio-peer-exchange ALPN exchange), then istio.stats.
 * The stats filter's stats.PluginConfig carries the Telemetry API's metric overrides for the
 * direction (CLIENT: outbound and gateways, SERVER: inbound): disabled metrics as `drop`,
 * tagOverrides as `dimensions` / `tags_to_remove`; inbound and gateway configs set
 * disable_host_header_fallback as Istio's do. No prometheus metrics provider, or
 * ALL_METRICS disabled for the direction, leaves the stats filter out, as Istio does.
 * Configs travel as TypedStructs (Istio's protos are not Envoy's). Pure: new objects, inputs untouched.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { ISTIO_FILTER, NETWORK_FILTER, TYPED_STRUCT } from '../../xds/type_urls.ts';
import { effectiveTelemetry, type MetricOverride } from '../telemetry/effective.ts';

export const PEER_METADATA_FILTER = 'envoy.filters.http.peer_metadata';
export const ISTIO_STATS_FILTER = 'istio.stats';
export const METADATA_EXCHANGE_FILTER = 'istio.metadata_exchange';
const ISTIO_ALPN_PROTOCOL = 'istio-peer-exchange';

type Side = 'inbound' | 'outbound' | 'gateway';

function typedStruct(typeUrl: string, value: EnvoyJson): EnvoyJson {
  return { '@type': TYPED_STRUCT[0], type_url: typeUrl, value };
}

/** io.istio.http.peer_metadata.Config for one side, as Istio's SidecarInbound/OutboundMetadataFilter. */
export function peerMetadataFilter(side: Side): EnvoyJson {
  const headers = [{ istio_headers: {} }];
  const value: EnvoyJson =
    side === 'inbound'
      ? { downstream_discovery: headers, downstream_propagation: headers }
      : { upstream_discovery: [{ istio_headers: {} }, { workload_discovery: {} }], upstream_propagation: headers };
  return { name: PEER_METADATA_FILTER, typed_config: typedStruct(ISTIO_FILTER.PEER_METADATA, value) };
}

/** Istio's MetricSelector names → the stats filter's metric names. */
const METRIC_NAMES: Record<string, string> = {
  REQUEST_COUNT: 'requests_total',
  REQUEST_DURATION: 'request_duration_milliseconds',
  REQUEST_SIZE: 'request_bytes',
  RESPONSE_SIZE: 'response_bytes',
  GRPC_REQUEST_MESSAGES: 'request_messages_total',
  GRPC_RESPONSE_MESSAGES: 'response_messages_total',
  TCP_OPENED_CONNECTIONS: 'tcp_connections_opened_total',
  TCP_CLOSED_CONNECTIONS: 'tcp_connections_closed_total',
  TCP_SENT_BYTES: 'tcp_sent_bytes_total',
  TCP_RECEIVED_BYTES: 'tcp_received_bytes_total',
};

function isPrometheusProvider(push: PushContext, name: string): boolean {
  if (name === 'prometheus') return true;
  const p = push.mesh.extensionProviders?.find((e) => e.name === name);
  return !!p && p.prometheus !== undefined;
}

/** The stats.PluginConfig for one direction, or undefined when metrics are off there. */
export function statsPluginConfig(push: PushContext, proxy: Proxy, mode: 'CLIENT' | 'SERVER'): EnvoyJson | undefined {
  const eff = effectiveTelemetry(push, proxy);
  const prom = eff.metrics.filter((m) => isPrometheusProvider(push, m.provider));
  if (prom.length === 0) return undefined;
  const overrides: MetricOverride[] = [];
  for (const m of prom) for (const o of m.overrides) if (o.mode === mode || o.mode === 'CLIENT_AND_SERVER') overrides.push(o);
  if (overrides.some((o) => o.metric === 'ALL_METRICS' && o.disabled)) return undefined;
  const metrics: EnvoyJson[] = [];
  for (const o of overrides) {
    const name = METRIC_NAMES[o.metric];
    if (!name) continue; // customMetric definitions are not implemented (the validator says so)
    const entry: EnvoyJson = { name };
    if (o.disabled) entry.drop = true;
    const dims: Record<string, string> = {};
    const remove: string[] = [];
    for (const tag of Object.keys(o.tagOverrides ?? {}).sort()) {
      const t = o.tagOverrides![tag]!;
      if (t.operation === 'REMOVE') remove.push(tag);
      else if (t.value !== undefined) dims[tag] = t.value;
    }
    if (Object.keys(dims).length) entry.dimensions = dims;
    if (remove.length) entry.tags_to_remove = remove;
    if (Object.keys(entry).length > 1) metrics.push(entry);
  }
  metrics.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Telemetry metrics.reportingInterval: how often open TCP connections report (proxy default 5 s).
  const every = prom.map((m) => m.reportingInterval).filter((v): v is string => !!v).pop();
  return { ...(metrics.length ? { metrics } : {}), ...(every ? { tcp_reporting_duration: every } : {}) };
}

function statsFilter(config: EnvoyJson): EnvoyJson {
  return { name: ISTIO_STATS_FILTER, typed_config: typedStruct(ISTIO_FILTER.STATS, config) };
}

function metadataExchange(): EnvoyJson {
  return { name: METADATA_EXCHANGE_FILTER, typed_config: typedStruct(ISTIO_FILTER.METADATA_EXCHANGE, { protocol: ISTIO_ALPN_PROTOCOL }) };
}

function isMtlsChain(chain: EnvoyJson): boolean {
  return String(chain.transport_socket?.typed_config?.['@type'] ?? '').endsWith('DownstreamTlsContext');
}

function withHttpFilters(hcm: EnvoyJson, side: Side, stats: EnvoyJson | undefined): EnvoyJson {
  const tc = hcm.typed_config;
  const old: EnvoyJson[] = tc.http_filters ?? [];
  const filters = [peerMetadataFilter(side), ...old];
  if (stats) filters.splice(filters.length - 1, 0, statsFilter(stats));
  return { ...hcm, typed_config: { ...tc, http_filters: filters } };
}

/** Istio's ALPNDownstreamWithMxc: an inbound TCP mTLS chain agrees on istio-peer-exchange with a sidecar. */
const ALPN_DOWNSTREAM_WITH_MXC = [ISTIO_ALPN_PROTOCOL, 'h2', 'http/1.1'];

function withMxcAlpn(ts: EnvoyJson): EnvoyJson {
  const tc = ts.typed_config;
  const common = tc.common_tls_context ?? {};
  if (common.alpn_protocols?.length) return ts;
  return { ...ts, typed_config: { ...tc, common_tls_context: { ...common, alpn_protocols: ALPN_DOWNSTREAM_WITH_MXC } } };
}

function withChainFilters(chain: EnvoyJson, side: Side, stats: EnvoyJson | undefined): EnvoyJson {
  const filters: EnvoyJson[] = chain.filters ?? [];
  const out: EnvoyJson[] = [];
  let mxc = false;
  for (const f of filters) {
    const type = f.typed_config?.['@type'];
    if (type === NETWORK_FILTER.HTTP_CONNECTION_MANAGER) {
      out.push(withHttpFilters(f, side, stats));
    } else if (type === NETWORK_FILTER.TCP_PROXY) {
      if (side === 'inbound' && isMtlsChain(chain)) {
        out.push(metadataExchange());
        mxc = true;
      }
      if (stats) out.push(statsFilter(stats));
      out.push(f);
    } else out.push(f);
  }
  return mxc ? { ...chain, transport_socket: withMxcAlpn(chain.transport_socket), filters: out } : { ...chain, filters: out };
}

/** The listeners with Istio's telemetry filters added to every chain. */
export function withIstioTelemetry(push: PushContext, proxy: Proxy, listeners: EnvoyJson[]): EnvoyJson[] {
  // Proxyless gRPC clients get no Envoy filters.
  if (proxy.generator === 'grpc') return listeners;
  const client = statsPluginConfig(push, proxy, 'CLIENT');
  const server = statsPluginConfig(push, proxy, 'SERVER');
  // Istio's disableHostHeaderFallback(class): inbound sidecars and gateways never take
  // destination_service from the Host header; outbound sidecars do for clusters without metadata.
  const noHostFallback = (c: EnvoyJson | undefined) => (c ? { ...c, disable_host_header_fallback: true } : undefined);
  const inbound = noHostFallback(server);
  const gateway = noHostFallback(client);
  return listeners.map((l) => {
    const side: Side = proxy.type === 'router' ? 'gateway' : l.traffic_direction === 'INBOUND' ? 'inbound' : 'outbound';
    const stats = side === 'inbound' ? inbound : side === 'gateway' ? gateway : client;
    const chain = (c: EnvoyJson) => withChainFilters(c, side, stats);
    const out: EnvoyJson = { ...l, filter_chains: (l.filter_chains ?? []).map(chain) };
    if (l.default_filter_chain) out.default_filter_chain = chain(l.default_filter_chain);
    return out;
  });
}
