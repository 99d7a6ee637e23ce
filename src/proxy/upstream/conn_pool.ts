/**
 * Per-host upstream connections (Envoy's conn_pool / conn_pool_map): one keep-alive undici Pool
 * per host for HTTP/1.1, one multiplexed undici Client per host for HTTP/2 (ALPN over TLS, h2c
 * in plaintext), and raw TCP/TLS sockets for tcp_proxy. Upstream TLS options come from the
 * cluster's UpstreamTlsContext. Retired pools close gracefully: in-flight requests finish first.
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { Client, Pool, type Dispatcher } from 'undici';
import type { Stats, UpstreamHost, UpstreamProtocol } from '../interfaces.ts';
import type { TlsOptions } from '../tls/tls_context.ts';

export interface ConnPoolOptions {
  protocol: UpstreamProtocol;
  /** Undefined for plaintext. */
  tls?: TlsOptions;
  connectTimeoutMs: number;
  /** Upper bound on HTTP/1.1 connections per host (circuit breaker max_connections). */
  maxConnections: number;
  /** common_http_protocol_options.idle_timeout; Envoy's default is 1h. */
  idleTimeoutMs: number;
  stats: Stats;
}

export class ConnPoolMap {
  private readonly pools = new Map<string, Client | Pool>();

  constructor(private readonly opts: ConnPoolOptions) {}

  /** The pool for a host, created on first use. */
  get(host: UpstreamHost): Dispatcher {
    let p = this.pools.get(host.address);
    if (!p) {
      p = this.create(host);
      this.pools.set(host.address, p);
    }
    return p;
  }

  /** Active requests on a host, for LEAST_REQUEST. */
  activeRequests(host: UpstreamHost): number {
    const p = this.pools.get(host.address);
    return p ? p.stats.running + p.stats.pending : 0;
  }

  private create(host: UpstreamHost): Client | Pool {
    const o = this.opts;
    const scheme = o.tls ? 'https' : 'http';
    const hostPart = host.ip.includes(':') ? `[${host.ip}]` : host.ip;
    const origin = `${scheme}://${hostPart}:${host.port}`;
    const connect: Record<string, unknown> = { timeout: o.connectTimeoutMs, noDelay: true };
    if (o.tls) Object.assign(connect, tlsConnectOptions(o.tls, host));
    const common = { connect, keepAliveTimeout: Math.min(o.idleTimeoutMs, 600_000), keepAliveMaxTimeout: o.idleTimeoutMs };
    const p =
      o.protocol === 'http2'
        ? new Client(origin, { ...common, allowH2: true, useH2c: !o.tls, pipelining: 100, maxConcurrentStreams: 100 } as Client.Options)
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
    for (const [addr, p] of this.pools) {
      if (addresses.has(addr)) continue;
      this.pools.delete(addr);
      p.close().catch(() => {});
    }
  }

  /** Closes every pool gracefully; used when the cluster is replaced or removed. */
  closeAll(): void {
    for (const p of this.pools.values()) p.close().catch(() => {});
    this.pools.clear();
  }

  destroyAll(): Promise<void> {
    const all = [...this.pools.values()].map((p) => p.destroy().catch(() => {}));
    this.pools.clear();
    return Promise.all(all).then(() => {});
  }
}

function tlsConnectOptions(t: TlsOptions, host: UpstreamHost): Record<string, unknown> {
  const o: Record<string, unknown> = { rejectUnauthorized: t.rejectUnauthorized ?? false };
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
export function connectTcp(host: UpstreamHost, t: TlsOptions | undefined, connectTimeoutMs: number, stats: Stats): Socket {
  const s: Socket = t
    ? tls.connect({ host: host.ip, port: host.port, allowHalfOpen: true, ...(tlsConnectOptions(t, host) as tls.ConnectionOptions) } as tls.ConnectionOptions)
    : net.connect({ host: host.ip, port: host.port, allowHalfOpen: true });
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
