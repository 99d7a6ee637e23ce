/**
 * DestinationRule connectionPool and retryBudget → Envoy circuit breakers and protocol options
 * (Istio's applyConnectionPool). Beyond Istio, every outbound cluster gets a retry budget by
 * default (20% of active requests, at least 3 retries in flight, as Linkerd's), so that retries
 * cannot multiply the load on a failing service; `tsmesh controlplane --retry-budget=off`
 * (meshConfig.defaultRetryBudget false) restores Istio's behaviour, where only max_retries
 * bounds them. A rule's own retryBudget, or an explicit http.maxRetries, replaces the default.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { toMs } from '../../api/duration.ts';
import { envoyDurationOf } from '../util.ts';
import { CLUSTER_EXT, TYPE_URL_PREFIX } from '../../xds/type_urls.ts';

/** Istio's "no limit" for circuit breakers. */
const MAX_U32 = 4294967295;
export const HTTP_PROTOCOL_OPTIONS = CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS.slice(TYPE_URL_PREFIX.length);
/** The default budget (Linkerd's 20%, Envoy's min_retry_concurrency default 3). */
export const DEFAULT_RETRY_BUDGET = { percent: 20, minRetryConcurrency: 3 } as const;

export interface ConnectionPoolOptions {
  /** Port speaks HTTP/2 (HTTP2, GRPC, GRPC-WEB): upstream must too. */
  http2: boolean;
  /** Port speaks HTTP at all: HTTP connection-pool settings apply. */
  http: boolean;
  /** Put the default retry budget on the cluster when the rule sets none (outbound sidecar and gateway clusters). */
  defaultRetryBudget?: boolean;
}

/** Sets circuit_breakers, connect_timeout, upstream_connection_options and HTTP protocol options on `cluster`. */
export function applyConnectionPool(cluster: EnvoyJson, pool: Record<string, any>, retryBudget: Record<string, any> | undefined, opts: ConnectionPoolOptions): void {
  const tcp = pool.tcp ?? {};
  const http = opts.http ? (pool.http ?? {}) : {};
  const thresholds: EnvoyJson = {
    max_connections: tcp.maxConnections ?? MAX_U32,
    max_pending_requests: http.http1MaxPendingRequests ?? MAX_U32,
    max_requests: http.http2MaxRequests ?? MAX_U32,
    max_retries: http.maxRetries ?? MAX_U32,
    track_remaining: true,
  };
  const budget = retryBudget ?? (opts.defaultRetryBudget && http.maxRetries === undefined ? DEFAULT_RETRY_BUDGET : undefined);
  if (budget) thresholds.retry_budget = envoyRetryBudget(budget);
  cluster.circuit_breakers = { thresholds: [thresholds] };
  if (tcp.connectTimeout) cluster.connect_timeout = envoyDurationOf(tcp.connectTimeout) ?? cluster.connect_timeout;
  if (tcp.tcpKeepalive) {
    const k = tcp.tcpKeepalive;
    const ka: EnvoyJson = {};
    if (k.probes) ka.keepalive_probes = Number(k.probes);
    if (k.time) ka.keepalive_time = Math.round(toMs(k.time) / 1000);
    if (k.interval) ka.keepalive_interval = Math.round(toMs(k.interval) / 1000);
    cluster.upstream_connection_options = { tcp_keepalive: ka };
  }
  if (!opts.http) return;
  const common: EnvoyJson = {};
  if (http.idleTimeout) common.idle_timeout = envoyDurationOf(http.idleTimeout);
  if (http.maxRequestsPerConnection) common.max_requests_per_connection = Number(http.maxRequestsPerConnection);
  if (tcp.maxConnectionDuration) common.max_connection_duration = envoyDurationOf(tcp.maxConnectionDuration);
  // useClientProtocol: each request goes upstream in the protocol the client used (h2UpgradePolicy
  // then has no effect, as Istio documents); a port declared HTTP/2 or gRPC stays HTTP/2.
  const useClient = http.useClientProtocol === true && !opts.http2;
  const h2 = !useClient && (opts.http2 || http.h2UpgradePolicy === 'UPGRADE');
  if (!h2 && !useClient && Object.keys(common).length === 0) return;
  const options: EnvoyJson = { '@type': CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS };
  if (Object.keys(common).length > 0) options.common_http_protocol_options = common;
  const h2opts: EnvoyJson = http.maxConcurrentStreams ? { max_concurrent_streams: Number(http.maxConcurrentStreams) } : {};
  if (useClient) options.use_downstream_protocol_config = { http_protocol_options: {}, http2_protocol_options: h2opts };
  else options.explicit_http_config = h2 ? { http2_protocol_options: h2opts } : { http_protocol_options: {} };
  cluster.typed_extension_protocol_options = { [HTTP_PROTOCOL_OPTIONS]: options };
}

/** Istio's TrafficPolicy.RetryBudget (percent 0-100, default 20; minRetryConcurrency, default 3) as Envoy's. */
function envoyRetryBudget(b: Record<string, any>): EnvoyJson {
  const raw = b.percent === undefined || b.percent === null ? DEFAULT_RETRY_BUDGET.percent : Number(typeof b.percent === 'object' ? b.percent.value : b.percent);
  const percent = Number.isFinite(raw) ? Math.min(100, Math.max(0, raw)) : DEFAULT_RETRY_BUDGET.percent;
  const min = b.minRetryConcurrency === undefined || b.minRetryConcurrency === null ? DEFAULT_RETRY_BUDGET.minRetryConcurrency : Number(b.minRetryConcurrency);
  return { budget_percent: { value: percent }, min_retry_concurrency: Number.isFinite(min) && min >= 0 ? Math.floor(min) : DEFAULT_RETRY_BUDGET.minRetryConcurrency };
}
