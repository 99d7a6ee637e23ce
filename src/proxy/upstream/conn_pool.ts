/**
 * Per-host upstream connections (Envoy's conn_pool / conn_pool_map): one keep-alive undici Pool
 * per host for HTTP/1.1, one multiplexed undici Client per host for HTTP/2 (ALPN over TLS, h2c
 * in plaintext), and raw TCP/TLS sockets for tcp_proxy. Upstream TLS options come from the
 * cluster's UpstreamTlsContext, per host when transport_socket_matches picks one. Connections
 * leave from upstream_bind_config's source address when set. Retired pools close gracefully:
 * in-flight requests finish first.
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { Client, Pool, type Dispatcher } from 'undici';
import type { Stats, UpstreamHost, UpstreamProtocol } from '../interfaces.ts';
import { checkPeerSans, type TlsOptions } from '../tls/tls_context.ts';
import type { TransportSocketChoice } from './transport_socket_match.ts';

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
  /** Upper bound on HTTP/1.1 connections per host (circuit breaker max_connections). */
  maxConnections: number;
  /** common_http_protocol_options.idle_timeout; Envoy's default is 1h. */
  idleTimeoutMs: number;
  /**
   * common_http_protocol_options.max_requests_per_connection: a connection is closed after this
   * many requests (0: no limit, Envoy's default). For HTTP/2 it counts streams.
   */
  maxRequestsPerConnection?: number;
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
  address: string;
  pool: Client | Pool;
  /** What requests go through: `pool`, or `pool` closing each connection after one request. */
  dispatcher: Dispatcher;
  /** Requests handed to an HTTP/2 client (its one connection), for max_requests_per_connection. */
  streams: number;
}

export class ConnPoolMap {
  /** By host address, protocol and transport socket: a host whose TLS choice changes gets new connections. */
  private readonly pools = new Map<string, PoolEntry>();

  constructor(private readonly opts: ConnPoolOptions) {}

  /** The pool for a host (and, with use_downstream_protocol_config, the downstream's protocol), created on first use. */
  get(host: UpstreamHost, downstream?: UpstreamProtocol): Dispatcher {
    const protocol = (this.opts.followDownstream && downstream) || this.opts.protocol;
    const ts = this.opts.transportSocket(host);
    const key = `${host.address}|${protocol}|${ts.name}`;
    let e = this.pools.get(key);
    const max = this.opts.maxRequestsPerConnection;
    if (e && protocol === 'http2' && max && e.streams >= max) {
      // An HTTP/2 client is one connection: retire it after `max` streams (in-flight ones finish)
      // and open a new one. HTTP/1.1 connections are counted by undici (maxRequestsPerClient).
      e.pool.close().catch(() => {});
      e = undefined;
    }
    if (!e) {
      const pool = this.create(host, protocol, ts.tls);
      // undici's maxRequestsPerClient cannot say 1 (0 is "no limit"): mark each request's connection for closing.
      const dispatcher = protocol === 'http1' && max === 1 ? pool.compose((dispatch) => (opts, handler) => dispatch({ ...opts, reset: true }, handler)) : pool;
      e = { address: host.address, pool, dispatcher, streams: 0 };
      this.pools.set(key, e);
    }
    e.streams++;
    return e.dispatcher;
  }

  /** Active requests on a host, for LEAST_REQUEST. */
  activeRequests(host: UpstreamHost): number {
    let n = 0;
    for (const e of this.pools.values()) if (e.address === host.address) n += e.pool.stats.running + e.pool.stats.pending;
    return n;
  }

  private create(host: UpstreamHost, protocol: UpstreamProtocol, t: TlsOptions | undefined): Client | Pool {
    const o = this.opts;
    const scheme = t ? 'https' : 'http';
    const hostPart = host.ip.includes(':') ? `[${host.ip}]` : host.ip;
    const origin = `${scheme}://${hostPart}:${host.port}`;
    const connect: Record<string, unknown> = { timeout: o.connectTimeoutMs, noDelay: true };
    if (t) Object.assign(connect, tlsConnectOptions(t, host));
    if (o.source?.port) connect.localPort = o.source.port;
    const common = {
      connect,
      keepAliveTimeout: Math.min(o.idleTimeoutMs, 600_000),
      keepAliveMaxTimeout: o.idleTimeoutMs,
      ...(o.source ? { localAddress: o.source.ip } : {}),
      // undici marks a connection for closing on the request after maxRequestsPerClient ones.
      ...(o.maxRequestsPerConnection && o.maxRequestsPerConnection > 1 ? { maxRequestsPerClient: o.maxRequestsPerConnection - 1 } : {}),
    };
    const p =
      protocol === 'http2'
        ? new Client(origin, { ...common, allowH2: true, useH2c: !t, pipelining: 100, maxConcurrentStreams: 100 } as Client.Options)
        : new Pool(origin, { ...common, connections: o.maxConnections });
    const total = o.stats.counter('upstream_cx_total');
    const active = o.stats.gauge('upstream_cx_active');
    const fail = o.stats.counter('upstream_cx_connect_fail');
    p.on('connect', () => {
      total.inc();
      active.inc();
    });
    p.on('disconnect', () => active.dec());
    p.on('connectionError', () => fail.inc());
    return p;
  }

  /** Closes pools of hosts no longer present (after their in-flight requests). */
  retainOnly(addresses: Set<string>): void {
    for (const [key, e] of this.pools) {
      if (addresses.has(e.address)) continue;
      this.pools.delete(key);
      e.pool.close().catch(() => {});
    }
  }

  /** Closes every pool gracefully; used when the cluster is replaced or removed. */
  closeAll(): void {
    for (const e of this.pools.values()) e.pool.close().catch(() => {});
    this.pools.clear();
  }

  destroyAll(): Promise<void> {
    const all = [...this.pools.values()].map((e) => e.pool.destroy().catch(() => {}));
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
  if (!t.servername && t.rejectUnauthorized) o.servername = host.ip;
  return o;
}

/**
 * A TCP (or TLS) connection to a host for tcp_proxy. Errors are emitted on the socket; the
 * caller counts them (upstream_cx_connect_fail) and sets the UF flag.
 */
export function connectTcp(host: UpstreamHost, t: TlsOptions | undefined, connectTimeoutMs: number, stats: Stats, source?: SourceAddress): Socket {
  const local = source ? { localAddress: source.ip, ...(source.port ? { localPort: source.port } : {}) } : {};
  const s: Socket = t
    ? tls.connect({ host: host.ip, port: host.port, allowHalfOpen: true, ...local, ...(tlsConnectOptions(t, host) as tls.ConnectionOptions) } as tls.ConnectionOptions)
    : net.connect({ host: host.ip, port: host.port, allowHalfOpen: true, ...local });
  s.setNoDelay(true);
  stats.counter('upstream_cx_total').inc();
  const active = stats.gauge('upstream_cx_active');
  active.inc();
  s.once('close', () => active.dec());
  const timer = setTimeout(() => {
    stats.counter('upstream_cx_connect_timeout').inc();
    s.destroy(new Error('upstream connect timeout'));
  }, connectTimeoutMs);
  timer.unref();
  let connected = false;
  s.once(t ? 'secureConnect' : 'connect', () => {
    connected = true;
    clearTimeout(timer);
  });
  s.once('close', () => clearTimeout(timer));
  s.once('error', () => {
    if (!connected) stats.counter('upstream_cx_connect_fail').inc();
  });
  return s;
}
