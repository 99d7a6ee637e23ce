/**
 * Per-host upstream connections (Envoy's conn_pool / conn_pool_map): one keep-alive HTTP/1.1
 * pool per host on raw sockets (./http1/pool.ts), one HTTP/2 pool per host on the proxy's own HTTP/2 client
 * sessions (./http2/pool.ts: ALPN over TLS, h2c prior knowledge in plaintext), and raw TCP/TLS
 * sockets for tcp_proxy. Both HTTP pools take requests the same way (HttpConnPool). Upstream TLS
 * options come from the cluster's UpstreamTlsContext, per host when transport_socket_matches
 * picks one. Every pool of a cluster shares its circuit breakers (connections and pending
 * requests are limited cluster-wide, as in Envoy). Connections leave from upstream_bind_config's source address when set. Retired
 * pools close gracefully: in-flight requests finish first.
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { HttpConnPool, Stats, UpstreamHost, UpstreamProtocol } from '../interfaces.ts';
import { checkPeerSans, type TlsOptions } from '../tls/tls_context.ts';
import type { TransportSocketChoice } from './transport_socket_match.ts';
import type { ConnectOptions } from './http1/client_connection.ts';
import { Http1Pool, type PoolStats } from './http1/pool.ts';
import { Http2Pool } from './http2/pool.ts';
import type { PoolLimits } from './pool_limits.ts';
import { hostStatsOf, type HostStats } from './host_stats.ts';

export interface ConnPoolOptions {
  /** The cluster's configured protocol (explicit_http_config / http2_protocol_options). */
  protocol: UpstreamProtocol;
  /**
   * use_downstream_protocol_config: each request goes upstream in the protocol the downstream
   * request used (HTTP/1.x -> HTTP/1.1, HTTP/2 -> h2), instead of `protocol`.
   */
  followDownstream?: boolean;
  /** The transport socket for a host (transport_socket_matches); `tls` undefined means plaintext. */
  transportSocket(host: UpstreamHost): TransportSocketChoice;
  /** upstream_bind_config.source_address: the local address (and port, if non-zero) of upstream connections. */
  source?: SourceAddress;
  connectTimeoutMs: number;
  /** The cluster's circuit breakers: max_connections and max_pending_requests across its pools. */
  limits?: PoolLimits;
  /** Without `limits`: connections per host and protocol. */
  maxConnections?: number;
  /** common_http_protocol_options.idle_timeout; Envoy's default is 1h. */
  idleTimeoutMs: number;
  /**
   * common_http_protocol_options.max_requests_per_connection: a connection is closed after this
   * many requests (0: no limit, Envoy's default). For HTTP/2 it counts streams.
   */
  maxRequestsPerConnection?: number;
  /** common_http_protocol_options.max_connection_duration; 0: none. */
  maxConnectionDurationMs?: number;
  /** Upstream http2_protocol_options.max_concurrent_streams; 0: the peer's limit. */
  maxConcurrentStreams?: number;
  /** upstream_connection_options.tcp_keepalive.keepalive_time; undefined: 60 s. */
  keepAliveMs?: number;
  stats: Stats;
}

export interface SourceAddress {
  ip: string;
  port: number;
}

/** The downstream protocol as the HTTP connection manager reports it ("HTTP/1.1", "HTTP/2"...). */
export function protocolOfDownstream(p: string | undefined): UpstreamProtocol | undefined {
  if (!p) return undefined;
  return p === 'HTTP/2' ? 'http2' : 'http1';
}

interface PoolEntry {
  protocol: UpstreamProtocol;
  /** The transport socket's name: a host whose TLS choice changes gets new connections. */
  socketName: string;
  pool: Http1Pool | Http2Pool;
}

export class ConnPoolMap {
  /** By host address, then protocol and transport socket (a short list: no key string per request). */
  private readonly pools = new Map<string, PoolEntry[]>();
  private readonly poolStats: PoolStats;

  constructor(private readonly opts: ConnPoolOptions) {
    const s = opts.stats;
    this.poolStats = {
      total: s.counter('upstream_cx_total'),
      active: s.gauge('upstream_cx_active'),
      connectFail: s.counter('upstream_cx_connect_fail'),
      connectTimeout: s.counter('upstream_cx_connect_timeout'),
      maxRequests: s.counter('upstream_cx_max_requests'),
      maxDurationReached: s.counter('upstream_cx_max_duration_reached'),
      protocolError: s.counter('upstream_cx_protocol_error'),
    };
  }

  /** The pool for a host (and, with use_downstream_protocol_config, the downstream's protocol), created on first use. */
  get(host: UpstreamHost, downstream?: UpstreamProtocol): HttpConnPool {
    const protocol = (this.opts.followDownstream && downstream) || this.opts.protocol;
    const ts = this.opts.transportSocket(host);
    let list = this.pools.get(host.address);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const x = list[i];
        if (x.protocol === protocol && x.socketName === ts.name) return x.pool;
      }
    } else {
      this.pools.set(host.address, (list = []));
    }
    const e = this.create(host, protocol, ts);
    list.push(e);
    return e.pool;
  }

  /** Active requests on a host, for LEAST_REQUEST. */
  activeRequests(host: UpstreamHost): number {
    const list = this.pools.get(host.address);
    if (list === undefined) return 0;
    let n = 0;
    for (let i = 0; i < list.length; i++) n += list[i].pool.active;
    return n;
  }

  private create(host: UpstreamHost, protocol: UpstreamProtocol, ts: TransportSocketChoice): PoolEntry {
    const o = this.opts;
    const t = ts.tls;
    const connect: ConnectOptions = {
      host: host.ip,
      port: host.port,
      ...(o.source ? { localAddress: o.source.ip, ...(o.source.port ? { localPort: o.source.port } : {}) } : {}),
      ...(t ? { tls: tlsConnectOptions(t, host) as tls.ConnectionOptions } : {}),
      ...(o.keepAliveMs !== undefined ? { keepAliveMs: o.keepAliveMs } : {}),
    };
    const po = {
      connect,
      connectTimeoutMs: o.connectTimeoutMs,
      maxConnections: o.maxConnections ?? 1024,
      ...(o.limits ? { limits: o.limits } : {}),
      idleTimeoutMs: o.idleTimeoutMs,
      maxRequests: o.maxRequestsPerConnection ?? 0,
      maxDurationMs: o.maxConnectionDurationMs ?? 0,
      maxConcurrentStreams: o.maxConcurrentStreams ?? 0,
      stats: this.poolStats,
      hostStats: hostStatsOf(host),
    };
    return { protocol, socketName: ts.name, pool: protocol === 'http1' ? new Http1Pool(po) : new Http2Pool(po) };
  }

  /** Closes pools of hosts no longer present (after their in-flight requests). */
  retainOnly(addresses: Set<string>): void {
    for (const [address, list] of this.pools) {
      if (addresses.has(address)) continue;
      this.pools.delete(address);
      for (const e of list) e.pool.close();
    }
  }

  /** Closes every pool gracefully; used when the cluster is replaced or removed. */
  closeAll(): void {
    for (const list of this.pools.values()) for (const e of list) e.pool.close();
    this.pools.clear();
  }

  destroyAll(): Promise<void> {
    const all: Promise<void>[] = [];
    for (const list of this.pools.values()) for (const e of list) all.push(e.pool.destroy());
    this.pools.clear();
    return Promise.all(all).then(() => {});
  }
}

function tlsConnectOptions(t: TlsOptions, host: UpstreamHost): Record<string, unknown> {
  const o: Record<string, unknown> = { rejectUnauthorized: t.rejectUnauthorized ?? false, checkServerIdentity: checkPeerSans(t) };
  if (t.cert) o.cert = t.cert;
  if (t.key) o.key = t.key;
  if (t.ca) o.ca = t.ca;
  // Envoy sends no SNI unless `sni` is set; node requires a name for verification, so default to the IP only when verifying.
  if (t.servername) o.servername = t.servername;
  if (t.ALPNProtocols) o.ALPNProtocols = t.ALPNProtocols;
  // tls_params: the protocol bounds and TLS 1.2 suites hold for origination as for termination.
  if (t.minVersion) o.minVersion = t.minVersion;
  if (t.maxVersion) o.maxVersion = t.maxVersion;
  if (t.ciphers) o.ciphers = t.ciphers;
  if (!t.servername && t.rejectUnauthorized) o.servername = host.ip;
  return o;
}

/**
 * A TCP (or TLS) connection to a host for tcp_proxy. Errors are emitted on the socket; the
 * caller counts them (upstream_cx_connect_fail) and sets the UF flag.
 */
export function connectTcp(host: UpstreamHost, t: TlsOptions | undefined, connectTimeoutMs: number, stats: Stats, source?: SourceAddress, keepAliveMs?: number, hs?: HostStats): Socket {
  const local = source ? { localAddress: source.ip, ...(source.port ? { localPort: source.port } : {}) } : {};
  const s: Socket = t
    ? tls.connect({ host: host.ip, port: host.port, allowHalfOpen: true, ...local, ...(tlsConnectOptions(t, host) as tls.ConnectionOptions) } as tls.ConnectionOptions)
    : net.connect({ host: host.ip, port: host.port, allowHalfOpen: true, ...local });
  s.setNoDelay(true);
  // upstream_connection_options.tcp_keepalive (Envoy sets none on TCP proxying otherwise).
  if (keepAliveMs !== undefined) s.setKeepAlive(true, keepAliveMs);
  stats.counter('upstream_cx_total').inc();
  const active = stats.gauge('upstream_cx_active');
  active.inc();
  if (hs) hs.cxTotal++, hs.cxActive++;
  s.once('close', () => {
    active.dec();
    if (hs) hs.cxActive--;
  });
  const timer = setTimeout(() => {
    stats.counter('upstream_cx_connect_timeout').inc();
    s.destroy(new Error('upstream connect timeout'));
  }, connectTimeoutMs);
  timer.unref();
  let connected = false;
  s.once(t ? 'secureConnect' : 'connect', () => {
    connected = true;
    clearTimeout(timer);
    // Envoy counts a TCP session as the host's one request on the connection.
    if (hs) hs.rqTotal++;
  });
  s.once('close', () => clearTimeout(timer));
  s.once('error', () => {
    if (connected) return;
    stats.counter('upstream_cx_connect_fail').inc();
    if (hs) hs.cxConnectFail++;
  });
  return s;
}
