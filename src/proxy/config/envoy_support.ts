/**
 * What the proxy does with each Envoy message and field it can receive: the one registry that
 * xDS validation walks (./support_walker.ts) and docs/envoy-support.md is generated from.
 *
 * - honoured: implemented; the walker descends into it. `values` restricts it to the values
 *   the proxy's behaviour matches (e.g. validate_clusters: false); `opaque` fields are honoured
 *   whatever they contain (the walker does not descend).
 * - advisory: Envoy itself treats the field as a hint or as data for extensions the proxy does
 *   not run; ignored with a counter in /stats and one log line.
 * - not_yet_honoured: the control plane emits it today and the proxy does not enforce it yet.
 *   Accepted so sidecars keep working, counted as "unsupported, ignored" in /stats and logged.
 *   Each is a known gap with the issue that closes it; the list must only shrink.
 * Any other set field NACKs the resource naming the field (TSMESH_ERR_UNSUPPORTED_FIELD).
 */

export type FieldSupport =
  | { kind: 'honoured'; note?: string; values?: readonly unknown[]; opaque?: boolean }
  | { kind: 'advisory'; note: string }
  | { kind: 'not_yet_honoured'; note: string };

type MessageSupport = Record<string, FieldSupport>;

const HONOURED: FieldSupport = { kind: 'honoured' };

/** A message whose listed fields are honoured, plus the exceptions given. */
function msg(honoured: string, others: MessageSupport = {}): MessageSupport {
  const out: MessageSupport = {};
  for (const f of honoured.split(/\s+/).filter(Boolean)) out[f] = HONOURED;
  return Object.assign(out, others);
}
const only = (values: readonly unknown[], note: string): FieldSupport => ({ kind: 'honoured', values, note });
const advisory = (note: string): FieldSupport => ({ kind: 'advisory', note });
const notYet = (note: string): FieldSupport => ({ kind: 'not_yet_honoured', note });

const METADATA_ADVISORY = advisory('opaque data for extensions (stats tags, filters); no filter this proxy runs reads it');

/** Full message name -> field -> support. */
export const ENVOY_SUPPORT: Record<string, MessageSupport> = {
  // ---------- resources ----------
  'envoy.config.cluster.v3.Cluster': msg(
    'name type cluster_type connect_timeout lb_policy load_assignment eds_cluster_config transport_socket transport_socket_matches upstream_bind_config respect_dns_ttl typed_extension_protocol_options circuit_breakers ring_hash_lb_config maglev_lb_config least_request_lb_config round_robin_lb_config common_lb_config load_balancing_policy dns_lookup_family dns_refresh_rate dns_failure_refresh_rate dns_resolution_config http2_protocol_options common_http_protocol_options',
    {
      metadata: METADATA_ADVISORY,
      alt_stat_name: advisory('stat naming only'),
      outlier_detection: { kind: 'honoured', note: 'passive health checking: consecutive 5xx / gateway / local-origin failures, success rate and failure percentage eject hosts (upstream/outlier_detection.ts)' },
      health_checks: { kind: 'honoured', note: 'active HTTP/1.1 and TCP health checking, the first entry (upstream/health_checker.ts); more than one is rejected' },
      upstream_connection_options: { kind: 'honoured', note: 'tcp_keepalive on upstream connections (HTTP pools and tcp_proxy)' },
    },
  ),
  'envoy.config.core.v3.DnsResolutionConfig': msg('resolvers'),
  'envoy.config.cluster.v3.OutlierDetection': msg(
    'consecutive_5xx interval base_ejection_time max_ejection_percent enforcing_consecutive_5xx enforcing_success_rate success_rate_minimum_hosts success_rate_request_volume success_rate_stdev_factor consecutive_gateway_failure enforcing_consecutive_gateway_failure split_external_local_origin_errors consecutive_local_origin_failure enforcing_consecutive_local_origin_failure enforcing_local_origin_success_rate failure_percentage_threshold enforcing_failure_percentage enforcing_failure_percentage_local_origin failure_percentage_minimum_hosts failure_percentage_request_volume max_ejection_time max_ejection_time_jitter successful_active_health_check_uneject_host always_eject_one_host',
  ),
  'envoy.config.core.v3.HealthCheck': msg(
    'timeout interval initial_jitter interval_jitter interval_jitter_percent unhealthy_threshold healthy_threshold http_health_check tcp_health_check no_traffic_interval no_traffic_healthy_interval unhealthy_interval unhealthy_edge_interval healthy_edge_interval always_log_health_check_failures',
    {
      event_log_path: advisory('health check events go to the proxy log (one line each), not to a separate file'),
    },
  ),
  'envoy.config.core.v3.HealthCheck.HttpHealthCheck': msg('host path request_headers_to_add request_headers_to_remove expected_statuses retriable_statuses method', {
    codec_client_type: only(['HTTP1'], 'checks speak HTTP/1.1'),
  }),
  'envoy.config.core.v3.HealthCheck.TcpHealthCheck': msg('send receive'),
  'envoy.config.core.v3.HealthCheck.Payload': msg('text binary'),
  'envoy.config.cluster.v3.Cluster.TransportSocketMatch': msg('name match transport_socket'),
  'envoy.config.core.v3.BindConfig': msg('source_address'),
  'envoy.config.cluster.v3.Cluster.EdsClusterConfig': msg('eds_config service_name'),
  'envoy.config.cluster.v3.Cluster.CustomClusterType': msg('name typed_config'),
  'envoy.config.cluster.v3.Cluster.RingHashLbConfig': msg('minimum_ring_size maximum_ring_size hash_function'),
  'envoy.config.cluster.v3.Cluster.MaglevLbConfig': msg('table_size'),
  'envoy.config.cluster.v3.Cluster.LeastRequestLbConfig': msg('choice_count active_request_bias slow_start_config'),
  'envoy.config.cluster.v3.Cluster.RoundRobinLbConfig': msg('slow_start_config'),
  'envoy.config.cluster.v3.Cluster.SlowStartConfig': msg('slow_start_window aggression min_weight_percent'),
  'envoy.extensions.load_balancing_policies.common.v3.SlowStartConfig': msg('slow_start_window aggression min_weight_percent'),
  'envoy.config.core.v3.RuntimeDouble': msg('default_value', { runtime_key: advisory('no runtime layer: default_value applies') }),
  'envoy.config.cluster.v3.Cluster.CommonLbConfig': msg('consistent_hashing_lb_config', {
    healthy_panic_threshold: { kind: 'honoured', note: 'below it a priority balances over all its hosts (DestinationRule outlierDetection.minHealthPercent)' },
    ignore_new_hosts_until_first_hc: { kind: 'honoured', note: 'new hosts also carry /pending_active_hc until their first check (they take no traffic before it either way)' },
    locality_weighted_lb_config: { kind: 'honoured', note: "a locality is picked by its load_balancing_weight × its healthy share × the overprovisioning factor, then a host in it (DestinationRule localityLbSetting.distribute)" },
    zone_aware_lb_config: { kind: 'honoured', note: "with the bootstrap's cluster_manager.local_cluster_name and node locality, as Envoy: traffic stays in the caller's zone as far as the upstream's spread there allows; without a local cluster, no zone routing" },
  }),
  'envoy.config.cluster.v3.Cluster.CommonLbConfig.ZoneAwareLbConfig': msg('routing_enabled min_cluster_size'),
  'envoy.config.cluster.v3.Cluster.CommonLbConfig.ConsistentHashingLbConfig': msg('use_hostname_for_hashing hash_balance_factor'),
  'envoy.config.cluster.v3.LoadBalancingPolicy': msg('policies'),
  'envoy.config.cluster.v3.LoadBalancingPolicy.Policy': msg('typed_extension_config'),
  'envoy.config.core.v3.TypedExtensionConfig': msg('name typed_config'),
  'envoy.config.cluster.v3.UpstreamConnectionOptions': msg('tcp_keepalive'),
  'envoy.config.core.v3.TcpKeepalive': msg('keepalive_time', {
    keepalive_probes: notYet("Node's socket API sets only the keep-alive idle time (keepalive_time); the probe count is the OS's / libuv's (DestinationRule connectionPool.tcp.tcpKeepalive.probes); resilience issue 11"),
    keepalive_interval: notYet("Node's socket API sets only the keep-alive idle time (keepalive_time); the probe interval is the OS's / libuv's (DestinationRule connectionPool.tcp.tcpKeepalive.interval); resilience issue 11"),
  }),
  'envoy.config.cluster.v3.CircuitBreakers': msg('thresholds'),
  'envoy.config.cluster.v3.CircuitBreakers.Thresholds': msg('max_connections max_requests max_retries', {
    priority: { kind: 'honoured', note: 'DEFAULT thresholds apply; HIGH is accepted and not told apart (no route asks for HIGH priority here)' },
    max_pending_requests: { kind: 'honoured', note: 'cluster-wide: a request no connection can take now waits in the pending queue; beyond it, 503 with x-envoy-overloaded and response flag UO' },
    track_remaining: { kind: 'honoured', note: 'circuit_breakers.default.remaining_cx / remaining_pending / remaining_rq / remaining_retries gauges' },
    retry_budget: { kind: 'honoured', note: 'retries in flight limited to budget_percent of active + pending requests, at least min_retry_concurrency; replaces max_retries' },
  }),
  'envoy.config.cluster.v3.CircuitBreakers.Thresholds.RetryBudget': msg('budget_percent min_retry_concurrency'),
  'envoy.config.endpoint.v3.ClusterLoadAssignment': msg('cluster_name endpoints policy'),
  'envoy.config.endpoint.v3.ClusterLoadAssignment.Policy': msg('weighted_priority_health', {
    overprovisioning_factor: { kind: 'honoured', note: "a priority's health is its healthy share × this (default 140%); load spills to the next priority below 100" },
  }),
  'envoy.config.endpoint.v3.LocalityLbEndpoints': msg('locality lb_endpoints priority metadata', {
    load_balancing_weight: { kind: 'honoured', note: 'with common_lb_config.locality_weighted_lb_config' },
  }),
  'envoy.config.endpoint.v3.LbEndpoint': msg('endpoint health_status load_balancing_weight metadata'),
  'envoy.config.endpoint.v3.Endpoint': msg('address', { hostname: { kind: 'honoured', note: 'hashed instead of the address with consistent_hashing_lb_config.use_hostname_for_hashing' } }),
  'envoy.config.core.v3.Locality': msg('region zone sub_zone'),
  'envoy.config.core.v3.Metadata': msg('filter_metadata'),
  'envoy.config.core.v3.Address': msg('socket_address', {
    pipe: {
      kind: 'honoured',
      note: "a Unix socket endpoint of a STATIC cluster that a gRPC config source names (Istio's sds-grpc: the agent's SDS socket), dialled by the proxy's SDS stream; listeners need a socket_address, and traffic to a cluster of pipes finds no host (no healthy upstream)",
    },
  }),
  'envoy.config.core.v3.Pipe': msg('path'),
  'envoy.config.core.v3.SocketAddress': msg('address port_value'),
  'envoy.config.core.v3.ConfigSource': msg('ads initial_fetch_timeout', {
    resource_api_version: only(['V3'], 'xDS v3 only'),
    api_config_source: {
      kind: 'honoured',
      note: "for SDS (SdsSecretConfig.sds_config, Istio's shape): a SecretDiscoveryService stream to the named static cluster, one per cluster, watching the names referenced through it. EDS and RDS are fetched over ADS",
    },
  }),
  'envoy.config.core.v3.ApiConfigSource': msg('grpc_services', {
    api_type: only(['GRPC', 'DELTA_GRPC'], 'gRPC streams, state of the world or incremental'),
    transport_api_version: only(['V3'], 'xDS v3 only'),
    set_node_on_first_message_only: only([true], 'the node goes on the first request of each stream only'),
  }),
  'envoy.config.core.v3.GrpcService': msg('envoy_grpc', {
    timeout: { kind: 'honoured', note: "ext_authz: the Check call's deadline (grpc-timeout and a timer); xDS streams are long-lived and take none" },
  }),
  'envoy.config.core.v3.GrpcService.EnvoyGrpc': msg('cluster_name', {
    authority: { kind: 'honoured', note: "ext_authz: the Check call's :authority (default: the cluster name)" },
  }),
  'envoy.config.core.v3.AggregatedConfigSource': msg(''),
  'envoy.config.core.v3.TransportSocket': msg('name typed_config'),
  'envoy.config.core.v3.DataSource': msg('filename inline_string inline_bytes environment_variable'),
  'envoy.config.core.v3.RuntimeFractionalPercent': msg('default_value'),
  'envoy.type.v3.FractionalPercent': msg('numerator denominator'),
  'envoy.type.v3.Percent': msg('value'),
  'envoy.type.v3.Int64Range': msg('start end'),
  'envoy.config.core.v3.HeaderValue': msg('key value raw_value'),
  'envoy.config.core.v3.HeaderValueOption': msg('header append append_action keep_empty_value'),
  'envoy.config.core.v3.Http1ProtocolOptions': msg('', { allow_absolute_url: only([true], 'absolute-form request targets are always accepted') }),
  'envoy.config.core.v3.Http2ProtocolOptions': msg('', {
    max_concurrent_streams: { kind: 'honoured', note: 'downstream: SETTINGS_MAX_CONCURRENT_STREAMS; upstream: a cap on streams per connection below the peer\'s' },
  }),
  'envoy.config.core.v3.HttpProtocolOptions': msg('idle_timeout max_headers_count max_requests_per_connection', {
    max_connection_duration: { kind: 'honoured', note: 'upstream connections drain after it (no new requests; in-flight ones finish). The pilot sets it on clusters only; the connection manager does not cap downstream connections' },
  }),
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': msg('explicit_http_config use_downstream_protocol_config common_http_protocol_options'),
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig': msg('http_protocol_options http2_protocol_options'),
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions.UseDownstreamHttpConfig': msg('http_protocol_options http2_protocol_options'),

  'envoy.config.listener.v3.Listener': msg(
    'name address filter_chains default_filter_chain listener_filters listener_filters_timeout continue_on_listener_filters_timeout use_original_dst bind_to_port',
    {
      traffic_direction: { kind: 'honoured', note: 'the span kind of its HTTP connection managers\' tracing (OUTBOUND: CLIENT, otherwise SERVER), as Envoy\'s operation name; the reporter of Istio\'s stats filters (INBOUND: destination, otherwise source)' },
      per_connection_buffer_limit_bytes: advisory('a buffer-size hint; the proxy uses Node stream backpressure'),
      transparent: { kind: 'honoured', note: 'IP_TRANSPARENT on the listening socket through the native addon (TPROXY inbound); needs CAP_NET_ADMIN, and a listener is refused when the addon is missing' },
    },
  ),
  'envoy.config.listener.v3.ListenerFilter': msg('name typed_config'),
  'envoy.config.listener.v3.FilterChain': msg('name filter_chain_match filters transport_socket'),
  'envoy.config.listener.v3.FilterChainMatch': msg('destination_port prefix_ranges direct_source_prefix_ranges source_type source_prefix_ranges source_ports server_names transport_protocol application_protocols'),
  'envoy.config.core.v3.CidrRange': msg('address_prefix prefix_len'),
  'envoy.config.listener.v3.Filter': msg('name typed_config'),

  'envoy.config.route.v3.RouteConfiguration': msg(
    'name virtual_hosts request_headers_to_add request_headers_to_remove response_headers_to_add response_headers_to_remove most_specific_header_mutations_wins ignore_port_in_host_matching typed_per_filter_config',
    { validate_clusters: only([false], 'clusters are resolved per request (unknown cluster: cluster_not_found_response_code)') },
  ),
  'envoy.config.route.v3.VirtualHost': msg(
    'name domains routes require_tls retry_policy request_headers_to_add request_headers_to_remove response_headers_to_add response_headers_to_remove include_request_attempt_count include_attempt_count_in_response typed_per_filter_config',
  ),
  'envoy.config.route.v3.Route': msg(
    'name match route redirect direct_response non_forwarding_action decorator request_headers_to_add request_headers_to_remove response_headers_to_add response_headers_to_remove typed_per_filter_config',
    {
      metadata: METADATA_ADVISORY,
      stat_prefix: notYet('per-route stats (VirtualService http.match.statPrefix); telemetry issue 12. Today no per-route stats are kept'),
    },
  ),
  'envoy.config.route.v3.Decorator': msg('operation'),
  'envoy.config.route.v3.NonForwardingAction': msg(''),
  'envoy.config.route.v3.RouteMatch': msg('prefix path safe_regex path_separated_prefix connect_matcher case_sensitive headers query_parameters grpc runtime_fraction', {
    dynamic_metadata: { kind: 'honoured', note: "the stream's dynamic metadata as filters before the router left it (jwt_authn's verified payload and istio_authn claims; jwt_authn clears the route cache after writing); a stream without it never matches (fail closed)" },
  }),
  'envoy.config.route.v3.RouteMatch.ConnectMatcher': msg(''),
  'envoy.config.route.v3.RouteMatch.GrpcRouteMatchOptions': msg(''),
  'envoy.config.route.v3.HeaderMatcher': msg(
    'name string_match exact_match prefix_match suffix_match contains_match safe_regex_match range_match present_match invert_match treat_missing_header_as_empty',
  ),
  'envoy.config.route.v3.QueryParameterMatcher': msg('name string_match present_match'),
  'envoy.type.matcher.v3.StringMatcher': msg('exact prefix suffix contains safe_regex ignore_case'),
  'envoy.type.matcher.v3.RegexMatcher': msg('regex', { google_re2: advisory('deprecated; RE2 is the only engine') }),
  'envoy.type.matcher.v3.RegexMatcher.GoogleRE2': msg(''),
  'envoy.type.matcher.v3.RegexMatchAndSubstitute': msg('pattern substitution'),
  'envoy.config.route.v3.RouteAction': msg(
    'cluster cluster_header weighted_clusters cluster_not_found_response_code prefix_rewrite regex_rewrite host_rewrite_literal auto_host_rewrite host_rewrite_header timeout idle_timeout max_grpc_timeout grpc_timeout_offset max_stream_duration retry_policy request_mirror_policies hash_policy upgrade_configs',
  ),
  'envoy.config.route.v3.RouteAction.MaxStreamDuration': msg('max_stream_duration grpc_timeout_header_max grpc_timeout_header_offset'),
  'envoy.config.route.v3.RouteAction.UpgradeConfig': msg('upgrade_type enabled'),
  'envoy.config.route.v3.RouteAction.RequestMirrorPolicy': msg('cluster runtime_fraction', { trace_sampled: advisory('tracing decision for the shadow request') }),
  'envoy.config.route.v3.RouteAction.HashPolicy': msg('header cookie connection_properties query_parameter terminal'),
  'envoy.config.route.v3.RouteAction.HashPolicy.Header': msg('header_name regex_rewrite'),
  'envoy.config.route.v3.RouteAction.HashPolicy.Cookie': msg('name', {
    path: notYet('cookie generation when the request has none (DestinationRule consistentHash.httpCookie.ttl/path); resilience issue 11. Today the hash uses the cookie only when the client sends it'),
    ttl: notYet('cookie generation when the request has none (DestinationRule consistentHash.httpCookie.ttl/path); resilience issue 11. Today the hash uses the cookie only when the client sends it'),
  }),
  'envoy.config.route.v3.RouteAction.HashPolicy.ConnectionProperties': msg('source_ip'),
  'envoy.config.route.v3.RouteAction.HashPolicy.QueryParameter': msg('name'),
  'envoy.config.route.v3.WeightedCluster': msg('clusters header_name', { total_weight: advisory('deprecated; the sum of the weights is used') }),
  'envoy.config.route.v3.WeightedCluster.ClusterWeight': msg(
    'name weight request_headers_to_add request_headers_to_remove response_headers_to_add response_headers_to_remove host_rewrite_literal typed_per_filter_config',
  ),
  'envoy.config.route.v3.RetryPolicy': msg(
    'retry_on num_retries per_try_timeout per_try_idle_timeout retriable_status_codes retry_back_off retry_host_predicate host_selection_retry_max_attempts retriable_headers retriable_request_headers',
    { retry_priority: { kind: 'honoured', note: 'envoy.retry_priorities.previous_priorities only (VirtualService retries.retryRemoteLocalities); any other is NACKed' } },
  ),
  'envoy.config.route.v3.RetryPolicy.RetryBackOff': msg('base_interval max_interval'),
  'envoy.config.route.v3.RetryPolicy.RetryHostPredicate': msg('name typed_config'),
  'envoy.config.route.v3.RetryPolicy.RetryPriority': msg('name typed_config'),
  'envoy.config.route.v3.RedirectAction': msg('scheme_redirect https_redirect host_redirect port_redirect path_redirect prefix_rewrite regex_rewrite response_code strip_query'),
  'envoy.config.route.v3.DirectResponseAction': msg('status body'),

  'envoy.extensions.transport_sockets.tls.v3.Secret': msg('name tls_certificate validation_context'),

  // ---------- typed configs (by @type) ----------
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager': msg(
    'stat_prefix codec_type rds route_config http_filters use_remote_address xff_num_trusted_hops skip_xff_append server_name server_header_transformation generate_request_id preserve_external_request_id always_set_request_id_in_response via request_timeout request_headers_timeout stream_idle_timeout drain_timeout max_request_headers_kb normalize_path merge_slashes path_with_escaped_slashes_action access_log forward_client_cert_details set_current_client_cert_details upgrade_configs http2_protocol_options common_http_protocol_options http_protocol_options tracing request_id_extension',
  ),
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.SetCurrentClientCertDetails': msg('subject cert chain dns uri'),
  'envoy.extensions.filters.network.http_connection_manager.v3.Rds': msg('route_config_name config_source'),
  // Tracing (src/proxy/tracing/): one span per stream, Zipkin v2 JSON or OTLP/HTTP JSON reports.
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing': msg('client_sampling random_sampling overall_sampling custom_tags max_path_tag_length provider', {
    spawn_upstream_span: only([false], 'one span per stream (Envoy\'s default); upstream spans per attempt are not built'),
    verbose: advisory('annotations for stream events; spans carry tags only'),
  }),
  'envoy.config.trace.v3.Tracing.Http': msg('name typed_config'),
  'envoy.extensions.filters.network.http_connection_manager.v3.RequestIDExtension': msg('typed_config'),
  'envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig': msg('use_request_id_for_trace_sampling', {
    pack_trace_reason: only([true], 'the trace reason always travels in x-request-id, as Envoy\'s default'),
  }),
  'envoy.type.tracing.v3.CustomTag': msg('tag literal environment request_header'),
  'envoy.type.tracing.v3.CustomTag.Literal': msg('value'),
  'envoy.type.tracing.v3.CustomTag.Environment': msg('name default_value'),
  'envoy.type.tracing.v3.CustomTag.Header': msg('name default_value'),
  'envoy.config.trace.v3.ZipkinConfig': msg('collector_cluster collector_endpoint trace_id_128bit shared_span_context collector_hostname', {
    collector_endpoint_version: only(['HTTP_JSON', 'DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE'], 'Zipkin v2 JSON reports; HTTP_PROTO is not built'),
  }),
  'envoy.config.trace.v3.OpenTelemetryConfig': msg('http_service service_name'),
  'envoy.config.core.v3.HttpService': msg('http_uri'),
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter': msg('name typed_config is_optional'),
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.UpgradeConfig': msg('upgrade_type enabled'),
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy': msg('stat_prefix cluster weighted_clusters idle_timeout max_downstream_connection_duration access_log'),
  // AccessLog.filter: http/common/access_log_filter.ts (Istio's Telemetry filter is the CEL extension_filter).
  'envoy.config.accesslog.v3.AccessLog': msg('name typed_config filter'),
  'envoy.config.accesslog.v3.AccessLogFilter': msg('status_code_filter duration_filter response_flag_filter grpc_status_filter and_filter or_filter extension_filter', {
    not_health_check_filter: { kind: 'honoured', note: 'passes every request: only the health_check HTTP filter marks health checks, and this proxy does not run it' },
  }),
  'envoy.config.accesslog.v3.StatusCodeFilter': msg('comparison'),
  'envoy.config.accesslog.v3.DurationFilter': msg('comparison'),
  'envoy.config.accesslog.v3.ComparisonFilter': msg('op value'),
  'envoy.config.core.v3.RuntimeUInt32': msg('default_value', { runtime_key: advisory('no runtime layer: default_value applies') }),
  'envoy.config.accesslog.v3.ResponseFlagFilter': msg('flags'),
  'envoy.config.accesslog.v3.GrpcStatusFilter': msg('statuses exclude'),
  'envoy.config.accesslog.v3.AndFilter': msg('filters'),
  'envoy.config.accesslog.v3.OrFilter': msg('filters'),
  'envoy.config.accesslog.v3.NotHealthCheckFilter': msg(''),
  'envoy.config.accesslog.v3.ExtensionFilter': msg('name typed_config'),
  // CEL over Envoy's attributes (src/proxy/cel/); an unsupported attribute NACKs with its position.
  'envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter': msg('expression'),
  'envoy.extensions.access_loggers.file.v3.FileAccessLog': msg('path log_format json_format'),
  'envoy.config.core.v3.SubstitutionFormatString': msg('text_format json_format omit_empty_values', {
    text_format_source: { kind: 'honoured', note: 'inline_string only (other sources are rejected)' },
  }),
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster': msg('clusters'),
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight': msg('name weight'),
  'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector': msg(''),
  'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector': msg(''),
  'envoy.extensions.filters.listener.original_dst.v3.OriginalDst': msg(''),
  'envoy.extensions.filters.http.router.v3.Router': msg(''),
  'envoy.extensions.filters.http.fault.v3.HTTPFault': msg('delay abort headers downstream_nodes max_active_faults'),
  'envoy.extensions.filters.common.fault.v3.FaultDelay': msg('fixed_delay header_delay percentage'),
  'envoy.extensions.filters.common.fault.v3.FaultDelay.HeaderDelay': msg(''),
  'envoy.extensions.filters.http.fault.v3.FaultAbort': msg('http_status grpc_status header_abort percentage'),
  'envoy.extensions.filters.http.fault.v3.FaultAbort.HeaderAbort': msg(''),
  'envoy.extensions.filters.http.cors.v3.Cors': msg(''),
  'envoy.extensions.filters.http.cors.v3.CorsPolicy': msg(
    'allow_origin_string_match allow_methods allow_headers expose_headers max_age allow_credentials allow_private_network_access filter_enabled forward_not_matching_preflights',
  ),
  'envoy.extensions.filters.http.rbac.v3.RBAC': msg('rules rules_stat_prefix shadow_rules shadow_rules_stat_prefix'),
  'envoy.extensions.filters.http.rbac.v3.RBACPerRoute': msg('rbac'),
  'envoy.extensions.filters.network.rbac.v3.RBAC': msg('rules shadow_rules shadow_rules_stat_prefix stat_prefix', {
    enforcement_type: {
      kind: 'honoured',
      note: 'decided once when the connection reaches the filter, before any byte is forwarded; CONTINUOUS decides the same way, since every fact the proxy matches on a connection is fixed for its life',
    },
  }),
  'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication': msg('providers rules requirement_map bypass_cors_preflight'),
  'envoy.extensions.filters.http.jwt_authn.v3.JwtProvider': msg(
    'issuer audiences remote_jwks local_jwks forward from_headers from_params from_cookies forward_payload_header pad_forward_payload_header payload_in_metadata normalize_payload_in_metadata header_in_metadata clock_skew_seconds claim_to_headers clear_route_cache require_expiration jwt_cache_config',
  ),
  'envoy.extensions.filters.http.jwt_authn.v3.JwtProvider.NormalizePayload': msg('space_delimited_claims'),
  'envoy.extensions.filters.http.jwt_authn.v3.RemoteJwks': msg('http_uri cache_duration'),
  'envoy.extensions.filters.http.jwt_authn.v3.JwtCacheConfig': msg('jwt_cache_size'),
  'envoy.config.core.v3.HttpUri': msg('uri cluster timeout'),
  'envoy.extensions.filters.http.jwt_authn.v3.JwtHeader': msg('name value_prefix'),
  'envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader': msg('header_name claim_name'),
  'envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement': msg('provider_name provider_and_audiences requires_any requires_all allow_missing allow_missing_or_failed'),
  'envoy.extensions.filters.http.jwt_authn.v3.ProviderWithAudiences': msg('provider_name audiences'),
  'envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementOrList': msg('requirements'),
  'envoy.extensions.filters.http.jwt_authn.v3.JwtRequirementAndList': msg('requirements'),
  'envoy.extensions.filters.http.jwt_authn.v3.RequirementRule': msg('match requires requirement_name'),
  'envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig': msg('disabled requirement_name'),
  'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz': msg('http_service grpc_service failure_mode_allow failure_mode_allow_header_add status_on_error clear_route_cache filter_enabled_metadata stat_prefix with_request_body', {
    transport_api_version: only(['V3', 'AUTO'], 'envoy.service.auth.v3 only'),
  }),
  'envoy.extensions.filters.http.ext_authz.v3.BufferSettings': msg('max_request_bytes allow_partial_message pack_as_bytes'),
  'envoy.extensions.filters.http.ext_authz.v3.HttpService': msg('server_uri path_prefix authorization_request authorization_response'),
  'envoy.extensions.filters.http.ext_authz.v3.AuthorizationRequest': msg('allowed_headers headers_to_add'),
  'envoy.extensions.filters.http.ext_authz.v3.AuthorizationResponse': msg('allowed_upstream_headers allowed_upstream_headers_to_append allowed_client_headers allowed_client_headers_on_success'),
  'envoy.type.matcher.v3.ListStringMatcher': msg('patterns'),
  'envoy.type.v3.HttpStatus': msg('code'),
  'envoy.config.rbac.v3.RBAC': msg('action policies'),
  'envoy.config.rbac.v3.Policy': msg('permissions principals'),
  'envoy.config.rbac.v3.Permission': msg('and_rules or_rules any header url_path uri_template destination_ip destination_port destination_port_range metadata not_rule requested_server_name'),
  'envoy.config.rbac.v3.Permission.Set': msg('rules'),
  'envoy.config.rbac.v3.Principal': msg('and_ids or_ids any source_ip direct_remote_ip remote_ip header url_path metadata not_id', {
    authenticated: {
      kind: 'honoured',
      note: 'the peer certificate of a connection the proxy terminated TLS on: URI SANs, then DNS SANs, then the subject (on HTTP, URI SANs only: the HTTP side sees no other certificate field)',
    },
  }),
  'envoy.config.rbac.v3.Principal.Set': msg('ids'),
  'envoy.config.rbac.v3.Principal.Authenticated': msg('principal_name'),
  'envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig': msg('path_template'),
  'envoy.type.matcher.v3.PathMatcher': msg('path'),
  'envoy.type.matcher.v3.MetadataMatcher': msg('filter path value invert'),
  'envoy.type.matcher.v3.MetadataMatcher.PathSegment': msg('key'),
  'envoy.type.matcher.v3.ValueMatcher': msg('null_match double_match string_match bool_match present_match list_match or_match'),
  'envoy.type.matcher.v3.ValueMatcher.NullMatch': msg(''),
  'envoy.type.matcher.v3.DoubleMatcher': msg('range exact'),
  'envoy.type.v3.DoubleRange': msg('start end'),
  'envoy.type.matcher.v3.ListMatcher': msg('one_of'),
  'envoy.type.matcher.v3.OrMatcher': msg('value_matchers'),
  'envoy.type.v3.Int32Range': msg('start end'),
  'envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig': msg('dns_cache_config'),
  'envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig': msg('host_rewrite_literal host_rewrite_header'),
  'envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig': msg('dns_cache_config sub_clusters_config'),
  'envoy.extensions.clusters.dynamic_forward_proxy.v3.SubClustersConfig': msg('lb_policy max_sub_clusters sub_cluster_ttl'),
  'envoy.extensions.common.dynamic_forward_proxy.v3.DnsCacheConfig': msg(
    'name dns_lookup_family dns_refresh_rate dns_failure_refresh_rate dns_query_timeout host_ttl max_hosts dns_cache_circuit_breaker preresolve_hostnames',
  ),
  'envoy.extensions.common.dynamic_forward_proxy.v3.DnsCacheCircuitBreakers': msg('max_pending_requests'),
  'envoy.config.cluster.v3.Cluster.RefreshRate': msg('base_interval max_interval'),
  'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate': msg(''),
  'envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig': msg('update_frequency'),
  'envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin': msg('slow_start_config'),
  'envoy.extensions.load_balancing_policies.random.v3.Random': msg(''),
  'envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest': msg('choice_count active_request_bias slow_start_config'),
  'envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash': msg('minimum_ring_size maximum_ring_size hash_function use_hostname_for_hashing hash_balance_factor consistent_hashing_lb_config'),
  'envoy.extensions.load_balancing_policies.maglev.v3.Maglev': msg('table_size consistent_hashing_lb_config'),
  'envoy.extensions.load_balancing_policies.common.v3.ConsistentHashingLbConfig': msg('use_hostname_for_hashing hash_balance_factor'),

  // (issue 12) Istio's proxy extensions travel as TypedStructs (their protos are Istio's, not Envoy's):
  // the filter the type_url names validates the Struct and NACKs what it does not implement.
  'xds.type.v3.TypedStruct': msg('type_url', { value: { kind: 'honoured', opaque: true, note: 'validated by the filter type_url names: io.istio.http.peer_metadata.Config, stats.PluginConfig, envoy.tcp.metadataexchange.config.MetadataExchange (src/proxy/istio/). Divergence: istio_request_bytes / istio_response_bytes record body bytes, where Istio\'s proxy records wire bytes (headers included)' } }),
  'udpa.type.v1.TypedStruct': msg('type_url', { value: { kind: 'honoured', opaque: true, note: 'as xds.type.v3.TypedStruct' } }),
  'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer': msg(''),
  'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext': msg('common_tls_context sni'),
  'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext': msg('common_tls_context require_client_certificate'),
  'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext': msg(
    'tls_params tls_certificates tls_certificate_sds_secret_configs validation_context validation_context_sds_secret_config combined_validation_context alpn_protocols',
  ),
  'envoy.extensions.transport_sockets.tls.v3.CommonTlsContext.CombinedCertificateValidationContext': msg('default_validation_context validation_context_sds_secret_config'),
  'envoy.extensions.transport_sockets.tls.v3.TlsParameters': msg('tls_minimum_protocol_version tls_maximum_protocol_version cipher_suites'),
  'envoy.extensions.transport_sockets.tls.v3.TlsCertificate': msg('certificate_chain private_key'),
  'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext': msg('trusted_ca match_typed_subject_alt_names'),
  'envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher': msg('matcher', { san_type: only(['EMAIL', 'DNS', 'URI', 'IP_ADDRESS'], 'OTHER_NAME (by oid) is not implemented') }),
  'envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig': msg('name sds_config'),
};

/** The not-yet-honoured fields: what the control plane emits that the proxy does not enforce. */
export function notYetHonoured(): { message: string; field: string; note: string }[] {
  const out: { message: string; field: string; note: string }[] = [];
  for (const [message, fields] of Object.entries(ENVOY_SUPPORT)) {
    for (const [field, s] of Object.entries(fields)) if (s.kind === 'not_yet_honoured') out.push({ message, field, note: s.note });
  }
  return out;
}
