/**
 * The seams inside the proxy, as in Envoy's include/envoy/ headers: the listener side (owned by
 * the core: listener manager, cluster manager, xDS, admin, stats) and the HTTP side (http
 * connection manager, codecs, filters, router) meet only through these types.
 *
 * Config objects are Envoy v3 messages in tsmesh's JSON form (src/xds/types.ts).
 */
import type { Socket } from 'node:net';
import type { Http1Handler, Http1RequestOptions } from './upstream/http1/types.ts';
import type { EnvoyJson } from '../xds/types.ts';
import type { ClusterChoice, RouteEntry } from './http/router/route_entry.ts';
import type { Clock } from '../common/clock.ts';
import type { PeerInfo } from './istio/peer_info.ts';
import type { HostStats } from './upstream/host_stats.ts';

export type { PeerInfo } from './istio/peer_info.ts';

// ---------- stats ----------

/** Envoy-style stats: counters, gauges and fixed-bucket histograms, named like Envoy's. */
export interface Stats {
  counter(name: string): { inc(n?: number): void; value(): number };
  gauge(name: string): { set(v: number): void; inc(n?: number): void; dec(n?: number): void; value(): number };
  histogram(name: string): { record(v: number): void };
}

// ---------- upstream ----------

export interface UpstreamHost {
  /** "ip:port" (Envoy's host address string). */
  address: string;
  ip: string;
  port: number;
  weight: number;
  /** In rotation: no unhealthy flag set (see upstream/host_health.ts, which keeps the two equal). */
  healthy: boolean;
  /** Why the host is out of rotation or degraded (HealthFlag bits); absent means none. */
  healthFlags?: number;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  /** filter_metadata from the LbEndpoint. */
  metadata?: Record<string, any>;
  /** Per-host counters (upstream/host_stats.ts), created on the host's first connection or request. */
  stats?: HostStats;
}

/** What a load balancer may look at when choosing (hash keys, retry exclusions). */
export interface LoadBalancerContext {
  hashKey?: string;
  /** Hosts tried already by this request (retry_host_predicate previous_hosts). */
  excludeHosts?: Set<UpstreamHost>;
  /** For ORIGINAL_DST clusters: the original destination "ip:port". */
  originalDestination?: string;
  /**
   * (additive) The request's :authority as it goes upstream (`host[:port]`), for dynamic forward
   * proxy clusters, whose host is the one that name resolves to.
   */
  authority?: string;
  /**
   * (additive) Priorities already tried by this request (retry_priority
   * envoy.retry_priorities.previous_priorities): the load balancer spreads this attempt's load
   * over the other priorities as if the tried ones were unhealthy.
   */
  previousPriorities?: Set<number>;
}

/**
 * Envoy's Outlier::Result: what one request or connection told about a host. LOCAL_ORIGIN_* are
 * errors seen by the proxy itself (connect failure, reset, timeout); EXT_ORIGIN_* are the
 * upstream's own answers for protocols without status codes (e.g. TCP).
 */
export type OutlierResult =
  | 'LOCAL_ORIGIN_CONNECT_FAILED'
  | 'LOCAL_ORIGIN_CONNECT_SUCCESS'
  | 'LOCAL_ORIGIN_TIMEOUT'
  | 'LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL'
  | 'EXT_ORIGIN_REQUEST_FAILED'
  | 'EXT_ORIGIN_REQUEST_SUCCESS';

/** Passive health signals into a cluster's outlier detector (Envoy's DetectorHostMonitor). */
export interface OutlierSink {
  /** An HTTP (or gRPC-mapped) response status from the host. */
  putHttpResponseCode(host: UpstreamHost, code: number): void;
  putResult(host: UpstreamHost, result: OutlierResult): void;
}

/** (additive) Outcome of asking a DNS cache for `host:port` (Envoy's LoadDnsCacheEntryStatus). */
export type DnsCacheLoad =
  /** Known: `address` is the resolved IP, or undefined when resolution failed. */
  | { status: 'InCache'; address: string | undefined }
  /** A lookup is under way; `done` settles with the IP, or undefined on failure. Never rejects. */
  | { status: 'Loading'; done: Promise<string | undefined> }
  /** The cache holds max_hosts entries already. */
  | { status: 'Overflow' };

/**
 * (additive) The DNS cache of a dynamic forward proxy cluster, as the dynamic_forward_proxy HTTP
 * filter uses it: the filter resolves before the router runs, the cluster's load balancer then
 * finds the host without waiting.
 */
export interface DynamicHostCache {
  /** dns_cache_config.name. */
  readonly cacheName: string;
  /**
   * Looks up an :authority (`host[:port]`; without a port, 443 when the cluster speaks TLS, else
   * 80, as Envoy). An authority no lookup could mean (bad port, empty) is a failed resolution.
   */
  load(authority: string): DnsCacheLoad;
  /** A slot among dns_cache_circuit_breaker.max_pending_requests for a request waiting on DNS; undefined when full. */
  tryAcquirePending(): (() => void) | undefined;
}

export type UpstreamProtocol = 'http1' | 'http2';

/** A cluster as the data path sees it (Envoy's ThreadLocalCluster). */
/**
 * An HTTP connection pool to one upstream host, HTTP/1.1 or HTTP/2 alike (the router's one
 * upstream contract): the request goes in with a ready header list and a Buffer or streaming
 * body; the outcome comes back through the handler's callbacks (head as a HeaderMap, data,
 * trailers, or a reset reason). No promise per request.
 */
export interface HttpConnPool {
  /** Runs or queues the request; false when the pool is closed (the handler was already told). */
  dispatch(opts: Http1RequestOptions, handler: Http1Handler): boolean;
  /** Requests queued or running, for LEAST_REQUEST. */
  readonly active: number;
  /** A request still queued (no connection yet) that its owner gave up on leaves the queue at once. */
  cancel?(handler: Http1Handler): void;
}

export interface UpstreamCluster {
  readonly name: string;
  /** The Cluster resource this was built from. */
  readonly config: EnvoyJson;
  /** Protocol to speak upstream (from typed_extension_protocol_options / http2_protocol_options). */
  readonly protocol: UpstreamProtocol;
  readonly stats: Stats;
  chooseHost(ctx?: LoadBalancerContext): UpstreamHost | undefined;
  /**
   * A keep-alive (or multiplexed) HTTP connection pool to one host; TLS applied if the cluster has a transport_socket.
   * (additive) `downstreamProtocol` ("HTTP/1.1", "HTTP/2") picks the upstream protocol under use_downstream_protocol_config.
   */
  httpPool(host: UpstreamHost, downstreamProtocol?: string): HttpConnPool;
  /** A TCP (or TLS) connection to one host, for tcp_proxy. */
  connect(host: UpstreamHost): Socket;
  /** Circuit breaker admission (connections / pending / requests / retries); release when done. */
  tryAcquire(resource: 'requests' | 'pending' | 'retries' | 'connections'): (() => void) | undefined;
  /** Passive health signals (outlier detection); absent when the cluster has no outlier_detection. */
  readonly outlier?: OutlierSink;
  /** (additive) Set on dynamic forward proxy clusters (cluster_type envoy.clusters.dynamic_forward_proxy). */
  readonly dynamicHosts?: DynamicHostCache;
  /** (additive) Hosts by priority (index = priority), for retry_priority previous_priorities. */
  readonly priorities?: UpstreamHost[][];
}

export interface ClusterManager {
  get(name: string): UpstreamCluster | undefined;
  /** Called when a cluster is added, changed or removed. */
  onChange(handler: (name: string) => void): () => void;
}

// ---------- routes (RDS) ----------

/** Route configurations by name, kept current from RDS (or inline route_config). */
export interface RouteConfigProvider {
  get(name: string): EnvoyJson | undefined;
  onChange(handler: (name: string) => void): () => void;
}

// ---------- network filters ----------

/** Facts about one downstream connection that filters and matching need. */
export interface ConnectionInfo {
  /** Downstream remote address (the client). */
  remoteAddress: string;
  remotePort: number;
  /** The address the connection was accepted on, or the original destination when captured. */
  localAddress: string;
  localPort: number;
  /** SNI from the TLS inspector, if any. */
  serverName?: string;
  /** ALPN / HTTP inspector result, e.g. ["h2"] or ["http/1.1"]. */
  applicationProtocols?: string[];
  transportProtocol?: 'raw_buffer' | 'tls';
  /** Set when TLS was terminated: the peer's certificate URI SANs (SPIFFE ids). */
  peerCertificateUris?: string[];
  /** Bytes already read from the socket by listener filters, to be replayed first. */
  preread?: Buffer;
}

/** Everything a network filter factory may use; one per listener (per worker). */
export interface FactoryContext {
  clusterManager: ClusterManager;
  routes: RouteConfigProvider;
  stats: Stats;
  /** Node id etc., for x-envoy headers and logs. */
  node: EnvoyJson;
  /** True while the listener is draining (HCM then adds Connection: close / GOAWAY). */
  draining(): boolean;
  /**
   * Registers an in-flight unit of work so drain waits for it; `releaseActive` with the same
   * `conn`, exactly once, when it is done. `conn` (the ConnectionInfo the listener handed over)
   * ties the work to its connection, so a drain closes only connections that are idle rather
   * than cutting a keep-alive mid-request. (A pair, not a returned closure: one per request.)
   */
  trackActive(conn?: ConnectionInfo): void;
  releaseActive(conn?: ConnectionInfo): void;
  /** (HTTP side, additive) Random source in [0, 1) for fault/weighted/mirror/retry-jitter decisions; tests inject a seeded one. Defaults to Math.random. */
  random?: () => number;
  /** (HTTP side, additive) Time for timeouts and fault delays; tests inject a manual one. Defaults to the system clock. */
  clock?: Clock;
  /** (HTTP side, additive) Called once per finished HTTP stream, for access logs and tracing. */
  onStreamComplete?(info: StreamInfo): void;
  /** (additive) The listener's traffic_direction (INBOUND / OUTBOUND / unset): the HCM's span kind, as Envoy's tracing operation name. */
  trafficDirection?: string;
  /**
   * (additive) Registers what to run when the config built with this context is gone for good
   * (its listener drained and dropped, or discarded unused): shared resources such as tracing
   * drivers are reference-counted through it. Absent outside a listener: nothing is released.
   */
  onRelease?(fn: () => void): void;
}

/**
 * A network filter: given a configured factory, handles one accepted downstream connection
 * (already TLS-terminated if the chain has a transport socket). Terminal filters (tcp_proxy,
 * http_connection_manager) own the socket from then on.
 */
export interface NetworkFilterFactory {
  /**
   * Validates config once (throws with a clear message to NACK) and returns the per-connection handler.
   * (Core addition:) handlers run in chain order; a non-terminal filter (e.g. a future network
   * rbac) returns 'continue' to pass the socket on, a terminal one returns nothing and owns it.
   */
  create(typedConfig: EnvoyJson, ctx: FactoryContext): (socket: Socket, info: ConnectionInfo) => void | 'continue';
}

// ---------- time ----------

// The one Clock (src/common/clock.ts); re-exported so filters keep importing their contract from here.
export type { Clock, Timer } from '../common/clock.ts';

// ---------- http filters ----------

export enum FilterStatus {
  Continue = 0,
  StopIteration = 1,
}

/** The request/response as HTTP filters see them: lower-case header names, pseudo-headers for :method, :path, :authority, :scheme. */
export type HeaderMap = Map<string, string | string[]>;

/**
 * (HTTP side, additive) Envoy's StreamInfo: what happened to one request, for access logs
 * (%RESPONSE_FLAGS%, %RESPONSE_CODE%, %UPSTREAM_HOST%...) and stats.
 */
export interface StreamInfo {
  startTime: number;
  /** The downstream HTTP protocol; undefined for a TCP (tcp_proxy) connection. */
  protocol?: 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2';
  requestId?: string;
  /** Request headers as seen by the router (after HCM mutations). */
  requestHeaders?: HeaderMap;
  responseCode?: number;
  /** Envoy's %RESPONSE_CODE_DETAILS%, e.g. "via_upstream", "route_not_found". */
  responseCodeDetails?: string;
  responseFlags: string[];
  routeName?: string;
  virtualHostName?: string;
  upstreamCluster?: string;
  upstreamHost?: UpstreamHost;
  /** ip:port of the proxy's side of the upstream connection, when known. */
  upstreamLocalAddress?: string;
  /** Why the upstream connection failed (connect error, TLS handshake), when it did. */
  upstreamTransportFailureReason?: string;
  /** Why the proxy closed the connection, when it did (Envoy's %CONNECTION_TERMINATION_DETAILS%). */
  connectionTerminationDetails?: string;
  /** Response headers as sent downstream (for %RESP(X)%). */
  responseHeaders?: HeaderMap;
  /** Upstream attempts made (1 + retries). */
  attemptCount: number;
  bytesReceived: number;
  bytesSent: number;
  /** Wall-clock end (ms since epoch) once complete. */
  endTime?: number;
  connection: ConnectionInfo;
  /**
   * The client's address as the HCM trusts it after x-forwarded-for processing (Envoy's
   * downstream remote address: use_remote_address, xff_num_trusted_hops): what rbac's remote_ip
   * matches. The direct peer stays connection.remoteAddress. Unset means the direct peer.
   */
  downstreamRemoteAddress?: string;
  /**
   * Envoy's dynamic metadata: namespace (usually a filter name, e.g. "envoy.filters.http.jwt_authn")
   * to fields. Filters write it (src/proxy/http/common/dynamic_metadata.ts) for later filters (rbac's
   * metadata matcher), the router and access logs. Created on first write.
   */
  dynamicMetadata?: Map<string, Record<string, unknown>>;
  /** (additive, issue 12) The downstream peer's Istio metadata (peer-metadata filters / TCP metadata exchange). */
  downstreamPeer?: PeerInfo;
  /** (additive, issue 12) The upstream peer's Istio metadata, from its response headers or the TCP exchange. */
  upstreamPeer?: PeerInfo;
  /** (additive, issue 12) Response trailers as sent downstream (gRPC status), for CEL's response.trailers / grpc_status. */
  responseTrailers?: HeaderMap;
}

/**
 * What a filter can do to the stream it is in: the model is Envoy's StreamDecoderFilterCallbacks /
 * StreamEncoderFilterCallbacks. Filters use only this (never the connection manager's classes).
 */
export interface StreamFilterCallbacks {
  /** Resumes iteration after StopIteration. */
  continueDecoding(): void;
  /** Ends the stream with a local reply (Envoy's sendLocalReply). */
  sendLocalReply(status: number, body: string, headers?: Record<string, string>, details?: { grpcStatus?: number; responseFlag?: string }): void;
  /** The Route message chosen for this request, if any. */
  route(): EnvoyJson | undefined;
  /** The chosen route compiled (action, rewrites, retry/timeout policy, virtual host), if any. */
  routeEntry(): RouteEntry | undefined;
  /**
   * (HTTP side, additive) The cluster the route sends this request to, chosen once when the route
   * is resolved (a weighted cluster's pick), so filters and the router agree on it.
   */
  clusterChoice?(): ClusterChoice | undefined;
  /**
   * The most specific typed_per_filter_config for `filterName` on the chosen route (the picked
   * weighted cluster, then route, then virtual host, then route configuration), as the filter factory's routeConfig() compiled it when
   * the route configuration was accepted. Undefined when none applies.
   */
  perFilterConfig<T>(filterName: string): T | undefined;
  /** Response flags (Envoy's %RESPONSE_FLAGS%: NR, UH, UF, UT, DI, FI, ...). */
  addResponseFlag(flag: string): void;
  connection: ConnectionInfo;

  // ---- (HTTP side, additive) what the terminal router and body-aware filters need ----
  /** Per-request facts (flags, upstream host, attempt count) for access logs. */
  readonly streamInfo: StreamInfo;
  /** Forgets the cached route so the next route() re-matches (after a filter changed headers). */
  clearRouteCache(): void;
  /** Sends response headers downstream through the encoder filters (reverse order). */
  encodeHeaders(status: number, headers: HeaderMap, endStream: boolean): void;
  /** Sends a response body chunk; returns false when the downstream buffer is full (wait for onBelowWriteBufferLowWatermark). */
  encodeData(chunk: Buffer, endStream: boolean): boolean;
  /** Ends the response with trailers (gRPC status travels here). */
  encodeTrailers(trailers: HeaderMap): void;
  /** Stops (true) or resumes (false) reading the request body from downstream: upstream backpressure. */
  readDisable(disable: boolean): void;
  /** Aborts the downstream stream (h2 RST_STREAM / h1 connection close) once headers went out. */
  resetStream(): void;
  /** For an HTTP/1.1 Upgrade after the upstream's 101: splices the raw downstream socket with `upstream`. */
  upgrade?(upstream: import('node:stream').Duplex, status: number, headers: HeaderMap): void;
  /** True when the request is an accepted Upgrade (e.g. WebSocket), value = the upgrade token. */
  readonly upgradeType?: string;
}

export interface HttpFilter {
  /**
   * (additive) The filter reads the request body (decodeData / decodeTrailers) while it holds
   * iteration after decodeHeaders, as Envoy's buffering filters do (ext_authz with_request_body):
   * what it sees stays queued for the filters after it until it continues.
   */
  readonly decodeDataWhileStopped?: boolean;
  decodeHeaders?(headers: HeaderMap, endStream: boolean): FilterStatus;
  decodeData?(chunk: Buffer, endStream: boolean): FilterStatus;
  encodeHeaders?(status: number, headers: HeaderMap, endStream: boolean): FilterStatus;
  /** (additive) Request trailers (HTTP/2, chunked HTTP/1.1). */
  decodeTrailers?(trailers: HeaderMap): FilterStatus;
  /** (additive) The downstream drained after encodeData returned false. */
  onBelowWriteBufferLowWatermark?(): void;
  /** (additive) The downstream went away (client reset / disconnect) before the stream completed. */
  onResetStream?(): void;
  /**
   * (additive, issue 12) Observe-only encoder hooks: a response body chunk and the response
   * trailers, in reverse filter order, before the codec writes them. Streams whose filters have
   * none pay nothing.
   */
  encodeData?(chunk: Buffer, endStream: boolean): void;
  encodeTrailers?(trailers: HeaderMap): void;
  /** (additive, issue 12) Once per stream, after StreamInfo is final and before access logs (Envoy's onStreamComplete). */
  onStreamComplete?(): void;
  onDestroy?(): void;
}

/** What an HTTP filter factory gets besides its config: the listener's context, plus the HCM's scope. */
export interface HttpFilterFactoryContext extends FactoryContext {
  /** "http.<stat_prefix>.": the scope filter stats are named under (Envoy's stats_prefix). */
  readonly statPrefix: string;
  readonly random: () => number;
  readonly clock: Clock;
}

/**
 * Registered by type URL (src/proxy/http/filters/registry.ts). `create` validates once per HCM
 * config (throw to NACK) and returns a cheap per-stream constructor.
 */
export interface HttpFilterFactory {
  create(typedConfig: EnvoyJson, ctx: HttpFilterFactoryContext): (callbacks: StreamFilterCallbacks) => HttpFilter;
  /**
   * Envoy's createRouteSpecificFilterConfig: validates one typed_per_filter_config value when the
   * route configuration is compiled (throw to reject it) and returns what perFilterConfig() hands
   * the filter. A filter without it accepts no per-route config.
   */
  routeConfig?(typedConfig: EnvoyJson): unknown;
}
