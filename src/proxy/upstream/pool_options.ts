/**
 * The connection-pool settings a cluster's config carries, read in one place: the HTTP protocol
 * options (idle_timeout, max_requests_per_connection, max_connection_duration), the upstream
 * HTTP/2 max_concurrent_streams, and TCP keep-alive from upstream_connection_options.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { durationMs } from '../duration.ts';

const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

export interface PoolSettings {
  idleTimeoutMs: number;
  maxRequestsPerConnection: number;
  /** 0: connections live until idle or closed. */
  maxConnectionDurationMs: number;
  /** 0: the peer's SETTINGS_MAX_CONCURRENT_STREAMS alone. */
  maxConcurrentStreams: number;
  /** TCP keep-alive idle time; undefined when the cluster sets no tcp_keepalive. */
  keepAliveMs?: number;
}

/** A UInt32Value in proto3 JSON: a number, or `{ value }` from some encoders. */
function u32(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = Number(typeof v === 'object' ? (v as { value?: unknown }).value : v);
  return Number.isFinite(n) ? n : undefined;
}

export function poolSettings(config: EnvoyJson): PoolSettings {
  const typed = config.typed_extension_protocol_options?.[HTTP_OPTIONS];
  const common = typed?.common_http_protocol_options ?? config.common_http_protocol_options;
  const h2 = typed?.explicit_http_config?.http2_protocol_options ?? typed?.use_downstream_protocol_config?.http2_protocol_options ?? config.http2_protocol_options;
  const out: PoolSettings = {
    // Envoy's default idle_timeout for upstream connections is 1 h.
    idleTimeoutMs: durationMs(common?.idle_timeout, 3_600_000),
    maxRequestsPerConnection: u32(common?.max_requests_per_connection) ?? 0,
    maxConnectionDurationMs: durationMs(common?.max_connection_duration, 0),
    maxConcurrentStreams: u32(h2?.max_concurrent_streams) ?? 0,
  };
  const ka = config.upstream_connection_options?.tcp_keepalive;
  if (ka) {
    // keepalive_time is in seconds; unset, Linux's default is 2 h (Envoy leaves the OS default).
    const s = u32(ka.keepalive_time);
    out.keepAliveMs = s !== undefined ? s * 1000 : 7_200_000;
  }
  return out;
}
