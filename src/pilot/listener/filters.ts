/**
 * Network and HTTP filter configs the listener builders share: http_connection_manager (RDS or
 * inline routes), tcp_proxy, and listener filters. Names and @types are Envoy's.
 */
import type { MeshConfig } from '../../api/types.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { adsConfigSource } from '../util.ts';
import { HTTP_FILTER, LISTENER_FILTER, NETWORK_FILTER } from '../../xds/type_urls.ts';

export const HCM = 'envoy.filters.network.http_connection_manager';
export const HCM_TYPE = NETWORK_FILTER.HTTP_CONNECTION_MANAGER;
export const TCP_PROXY = 'envoy.filters.network.tcp_proxy';
const TCP_PROXY_TYPE = NETWORK_FILTER.TCP_PROXY;

/** HTTP filters by Envoy name → their config @type. */
const HTTP_FILTER_TYPES: Record<string, string> = {
  'envoy.filters.http.fault': HTTP_FILTER.FAULT,
  'envoy.filters.http.cors': HTTP_FILTER.CORS,
  'envoy.filters.http.router': HTTP_FILTER.ROUTER,
};

/** An HTTP filter entry with an empty typed config (per-route config carries the details). */
export function httpFilter(name: keyof typeof HTTP_FILTER_TYPES | string): EnvoyJson {
  const type = HTTP_FILTER_TYPES[name];
  if (!type) throw new Error(`no @type known for HTTP filter ${name}`);
  return { name, typed_config: { '@type': type } };
}

/** Outbound sidecar chain: fault and CORS act on per-route config from VirtualServices. */
export function outboundHttpFilters(): EnvoyJson[] {
  return [httpFilter('envoy.filters.http.fault'), httpFilter('envoy.filters.http.cors'), httpFilter('envoy.filters.http.router')];
}

export const DYNAMIC_FORWARD_PROXY_FILTER = 'envoy.filters.http.dynamic_forward_proxy';
const DYNAMIC_FORWARD_PROXY_TYPE = HTTP_FILTER.DYNAMIC_FORWARD_PROXY;

/**
 * The outbound chain with envoy.filters.http.dynamic_forward_proxy just before the router: it
 * resolves the Host of requests routed to a dynamic forward proxy cluster (on `dnsCache`, the
 * cluster's DnsCacheConfig) and passes every other request untouched.
 */
export function outboundHttpFiltersWithDynamicForwardProxy(dnsCache: EnvoyJson): EnvoyJson[] {
  const filters = outboundHttpFilters();
  filters.splice(filters.length - 1, 0, { name: DYNAMIC_FORWARD_PROXY_FILTER, typed_config: { '@type': DYNAMIC_FORWARD_PROXY_TYPE, dns_cache_config: dnsCache } });
  return filters;
}

export interface HcmOptions {
  statPrefix: string;
  /** RDS route name, or an inline route_config. */
  rds?: string;
  routeConfig?: EnvoyJson;
  httpFilters: EnvoyJson[];
  mesh?: MeshConfig;
  inbound?: boolean;
  /** Accept absolute-form request lines (`GET http://host/path`), as an explicit HTTP proxy must. */
  allowAbsoluteUrl?: boolean;
  /** The HCM's tracing fields (./tracing.ts: `tracing`, `request_id_extension`), when tracing applies. */
  tracing?: EnvoyJson;
}

/** The http_connection_manager network filter. */
export function httpConnectionManager(o: HcmOptions): EnvoyJson {
  const cfg: EnvoyJson = { '@type': HCM_TYPE, stat_prefix: o.statPrefix };
  if (o.rds !== undefined) cfg.rds = { config_source: adsConfigSource(), route_config_name: o.rds };
  else cfg.route_config = o.routeConfig;
  cfg.http_filters = o.httpFilters;
  // A sidecar is not the edge: trust the downstream's X-Forwarded-For rather than rewriting it.
  cfg.use_remote_address = false;
  Object.assign(cfg, pathNormalization(o.mesh));
  cfg.stream_idle_timeout = '0s';
  cfg.upgrade_configs = [{ upgrade_type: 'websocket' }];
  if (o.allowAbsoluteUrl) cfg.http_protocol_options = { allow_absolute_url: true };
  if (o.inbound) {
    cfg.forward_client_cert_details = 'APPEND_FORWARD';
    cfg.set_current_client_cert_details = { subject: true, dns: true, uri: true };
  }
  if (o.tracing) Object.assign(cfg, o.tracing);
  return { name: HCM, typed_config: cfg };
}

/**
 * meshConfig.pathNormalization as the HCM's path options (Istio's mapping): BASE is RFC 3986
 * normalization, MERGE_SLASHES adds merging `//`, DECODE_AND_MERGE_SLASHES also decodes %2F and
 * %5C first, NONE leaves paths as sent. Routing and authorization both see the result.
 */
function pathNormalization(mesh: MeshConfig | undefined): EnvoyJson {
  const mode = mesh?.pathNormalization?.normalization ?? 'DEFAULT';
  if (mode === 'NONE') return { normalize_path: false, path_with_escaped_slashes_action: 'KEEP_UNCHANGED' };
  const merge = mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES';
  return {
    normalize_path: true,
    ...(merge ? { merge_slashes: true } : {}),
    path_with_escaped_slashes_action: mode === 'DECODE_AND_MERGE_SLASHES' ? 'UNESCAPE_AND_FORWARD' : 'KEEP_UNCHANGED',
  };
}

/**
 * tcp_proxy to one cluster, or weighted over several. Access logs (HCM and tcp_proxy alike) are
 * added per listener side by pilot/telemetry/access_log.ts; `_mesh` stays for the callers.
 */
export function tcpProxy(statPrefix: string, target: string | Array<{ name: string; weight: number }>, _mesh?: MeshConfig): EnvoyJson {
  const cfg: EnvoyJson = { '@type': TCP_PROXY_TYPE, stat_prefix: statPrefix };
  if (typeof target === 'string') cfg.cluster = target;
  else cfg.weighted_clusters = { clusters: target };
  return { name: TCP_PROXY, typed_config: cfg };
}

/** Listener filter that reads SNI / ALPN so filter chains can match on them. */
export function tlsInspector(): EnvoyJson {
  return { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': LISTENER_FILTER.TLS_INSPECTOR } };
}

/** Listener filter that recovers the pre-redirect destination (iptables capture). */
export function originalDst(): EnvoyJson {
  return { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': LISTENER_FILTER.ORIGINAL_DST } };
}
