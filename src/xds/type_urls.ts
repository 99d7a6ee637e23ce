/**
 * Every Envoy/xDS type URL tsmesh names, in one place: the control plane emits them, the proxy
 * registers its filters and policies under them, and the two must never spell them differently.
 */
const T = 'type.googleapis.com/';

/** xDS resource types (the ADS stream's type_url). */
export const RESOURCE = {
  LISTENER: `${T}envoy.config.listener.v3.Listener`,
  ROUTE: `${T}envoy.config.route.v3.RouteConfiguration`,
  CLUSTER: `${T}envoy.config.cluster.v3.Cluster`,
  ENDPOINT: `${T}envoy.config.endpoint.v3.ClusterLoadAssignment`,
  SECRET: `${T}envoy.extensions.transport_sockets.tls.v3.Secret`,
  /** Istio's NDS: the name table a sidecar's agent answers DNS from (src/pilot/nds, src/agent/dns). */
  NAME_TABLE: `${T}istio.networking.nds.v1.NameTable`,
} as const;

/** Envoy's ExtensionConfigDiscovery resource (ECDS): tsmesh's pilot never sends it. */
export const EXTENSION_CONFIG = `${T}envoy.config.core.v3.TypedExtensionConfig`;

/** Listener filters. */
export const LISTENER_FILTER = {
  TLS_INSPECTOR: `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
  HTTP_INSPECTOR: `${T}envoy.extensions.filters.listener.http_inspector.v3.HttpInspector`,
  ORIGINAL_DST: `${T}envoy.extensions.filters.listener.original_dst.v3.OriginalDst`,
} as const;

/** Network filters. */
export const NETWORK_FILTER = {
  HTTP_CONNECTION_MANAGER: `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  TCP_PROXY: `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
  RBAC: `${T}envoy.extensions.filters.network.rbac.v3.RBAC`,
} as const;

/** HTTP filters and their per-route configs. */
export const HTTP_FILTER = {
  ROUTER: `${T}envoy.extensions.filters.http.router.v3.Router`,
  FAULT: `${T}envoy.extensions.filters.http.fault.v3.HTTPFault`,
  CORS: `${T}envoy.extensions.filters.http.cors.v3.Cors`,
  CORS_POLICY: `${T}envoy.extensions.filters.http.cors.v3.CorsPolicy`,
  DYNAMIC_FORWARD_PROXY: `${T}envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig`,
  DYNAMIC_FORWARD_PROXY_PER_ROUTE: `${T}envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig`,
  RBAC: `${T}envoy.extensions.filters.http.rbac.v3.RBAC`,
  RBAC_PER_ROUTE: `${T}envoy.extensions.filters.http.rbac.v3.RBACPerRoute`,
  JWT_AUTHN: `${T}envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`,
  JWT_AUTHN_PER_ROUTE: `${T}envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig`,
  EXT_AUTHZ: `${T}envoy.extensions.filters.http.ext_authz.v3.ExtAuthz`,
  /** route.v3.FilterConfig: a typed_per_filter_config value wrapped with is_optional / disabled. */
  ROUTE_FILTER_CONFIG: `${T}envoy.config.route.v3.FilterConfig`,
} as const;

/**
 * Istio's proxy extensions (issue 12): the peer metadata HTTP filter and the stats filter
 * (pilot sends both as TypedStructs of these types), and the TCP metadata exchange.
 */
export const ISTIO_FILTER = {
  PEER_METADATA: `${T}io.istio.http.peer_metadata.Config`,
  STATS: `${T}stats.PluginConfig`,
  METADATA_EXCHANGE: `${T}envoy.tcp.metadataexchange.config.MetadataExchange`,
} as const;

/**
 * Istio's non-resource ADS types: a workload's health, which the agent reports on the proxy's own
 * stream as a DiscoveryRequest (no error_detail: healthy; error_detail: unhealthy, and why).
 */
export const ISTIO_XDS = {
  HEALTH_INFO: `${T}istio.v1.HealthInformation`,
} as const;

/** Path matchers (RBAC's uri_template permission: Istio's `{*}` / `{**}` path templates). */
export const PATH_MATCH = {
  URI_TEMPLATE: `${T}envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig`,
} as const;

/** Transport sockets and the secret they reference. */
export const TRANSPORT_SOCKET = {
  RAW_BUFFER: `${T}envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer`,
  UPSTREAM_TLS: `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
  DOWNSTREAM_TLS: `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
} as const;

/** Cluster extensions: protocol options, custom cluster types, load-balancing policies. */
export const CLUSTER_EXT = {
  HTTP_PROTOCOL_OPTIONS: `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
  DYNAMIC_FORWARD_PROXY: `${T}envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig`,
  ROUND_ROBIN: `${T}envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin`,
  LEAST_REQUEST: `${T}envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest`,
  RANDOM: `${T}envoy.extensions.load_balancing_policies.random.v3.Random`,
  RING_HASH: `${T}envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash`,
  MAGLEV: `${T}envoy.extensions.load_balancing_policies.maglev.v3.Maglev`,
} as const;

/** Retry plug-ins. */
export const RETRY = {
  PREVIOUS_HOSTS: `${T}envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate`,
  PREVIOUS_PRIORITIES: `${T}envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig`,
} as const;

/** Access loggers. */
export const ACCESS_LOGGER = {
  FILE: `${T}envoy.extensions.access_loggers.file.v3.FileAccessLog`,
} as const;

/** AccessLog.filter extension_filter typed configs (Istio's Telemetry filter.expression). */
export const ACCESS_LOG_FILTER = {
  CEL: `${T}envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter`,
} as const;

/** HttpConnectionManager.tracing providers and the request-id extension that carries the trace decision. */
export const TRACING = {
  ZIPKIN: `${T}envoy.config.trace.v3.ZipkinConfig`,
  OPENTELEMETRY: `${T}envoy.config.trace.v3.OpenTelemetryConfig`,
  UUID_REQUEST_ID: `${T}envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig`,
} as const;

/** Opaque wrappers that carry a typed config as a Struct. */
export const TYPED_STRUCT = [`${T}xds.type.v3.TypedStruct`, `${T}udpa.type.v1.TypedStruct`] as const;

/** The admin API's config_dump entries are `${ADMIN_PREFIX}<Kind>ConfigDump`. */
export const ADMIN_PREFIX = `${T}envoy.admin.v3.`;

/** The prefix every type URL shares. */
export const TYPE_URL_PREFIX = T;
