/**
 * An HTTP/2 connection pool for one upstream host (Envoy's http2 ConnPoolImpl): requests run as
 * streams on a ready connection with a free slot; when every connection is full (the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS) or draining, requests wait in a FIFO queue and another
 * connection opens, as the cluster's circuit breakers allow (max_connections across every host;
 * a queued request counts against max_pending_requests, and one that finds the queue full is
 * refused with the 'overflow' reset: Envoy's 503 UO). A connect
 * failure fails every waiting request (Envoy purges its pending list likewise). The same
 * contract as the HTTP/1.1 pool: `dispatch(opts, handler)` answers through the handler's
 * callbacks. `close()` retires the pool gracefully: queued and open streams finish first.
 */
import type { ConnectOptions } from '../http1/client_connection.ts';
import { CONNECT_TIMEOUT, Http1Error, pendingOverflowError } from '../http1/errors.ts';
import type { PoolStats } from '../http1/pool.ts';
import type { Http1Handler, Http1RequestOptions } from '../http1/types.ts';
import { PendingRequests } from '../pending_requests.ts';
import { localLimits, type PoolLimits } from '../pool_limits.ts';
import { H2Connection, type H2ConnectionOwner } from './connection.ts';
import type { HostStats } from '../host_stats.ts';

export interface Http2PoolOptions {
  connect: ConnectOptions;
  connectTimeoutMs: number;
  /** Connections of this pool when no `limits` are given. */
  maxConnections: number;
  /** The cluster's circuit breakers (connections and pending requests, cluster-wide). */
  limits?: PoolLimits;
  /** 0: connections never time out idle. */
  idleTimeoutMs: number;
  /** max_requests_per_connection, counted as streams; 0: no limit. */
  maxRequests: number;
  /** max_connection_duration from connect; 0: none. */
  maxDurationMs?: number;
  /** http2_protocol_options.max_concurrent_streams: a cap below the peer's SETTINGS; 0: the peer's. */
  maxConcurrentStreams?: number;
  stats: PoolStats;
  /** The host's own counters (/clusters). */
  hostStats?: HostStats;
}

export class Http2Pool implements H2ConnectionOwner {
  readonly connectTimeoutMs: number;
  readonly maxRequests: number;
  readonly idleTimeoutMs: number;
  readonly maxDurationMs: number;
  readonly maxConcurrentStreams: number;
  tlsSession: Buffer | undefined;
  /** Requests queued or running, for LEAST_REQUEST; the cluster's sum is the retry budget's base. */
  private count = 0;
  private readonly conns: H2Connection[] = [];
  private connecting = 0;
  private readonly pending = new PendingRequests();
  private flushing = false;
  private closing = false;
  private destroyed = false;
  private onEmpty: (() => void) | undefined;
  private readonly limits: PoolLimits;
  /** This pool's share of the cluster's pending requests (its queue length). */
  private pendingHeld = 0;

  constructor(private readonly o: Http2PoolOptions) {
    this.connectTimeoutMs = o.connectTimeoutMs;
    this.maxRequests = o.maxRequests;
    this.idleTimeoutMs = o.idleTimeoutMs;
    this.maxDurationMs = o.maxDurationMs ?? 0;
    this.maxConcurrentStreams = o.maxConcurrentStreams ?? 0;
    this.limits = o.limits ?? localLimits(o.maxConnections);
  }

  get active(): number {
    return this.count;
  }

  private addActive(n: number): void {
    this.count += n;
    this.limits.attemptsChanged(n);
  }

  /** Runs a request now on a connection with room, or queues it. Always answers through the handler. */
  dispatch(opts: Http1RequestOptions, h: Http1Handler): boolean {
    if (this.closing || this.destroyed) {
      h.onH1Error('connection termination', new Http1Error('upstream connection pool is closed', 'UND_ERR_CLOSED'));
      return false;
    }
    this.addActive(1);
    if (this.queued === 0) {
      const c = this.ready();
      if (c !== undefined && c.start(opts, h)) return this.started();
    }
    // It must wait for a stream slot: there must be room in the cluster's pending queue.
    if (this.limits.pendingFull()) {
      this.addActive(-1);
      this.limits.pendingOverflow();
      h.onH1Error('overflow', pendingOverflowError());
      return false;
    }
    this.pending.push(opts, h);
    this.flush();
    return true;
  }

  /** A queued request its owner gave up on leaves the queue now, freeing its pending slot (Envoy's cancel). */
  cancel(h: Http1Handler): void {
    if (!this.pending.remove(h)) return;
    this.addActive(-1);
    this.syncPending();
  }

  /** Keeps the cluster's pending count equal to this pool's queue. */
  private syncPending(): void {
    const n = this.queued;
    if (n === this.pendingHeld) return;
    this.limits.pendingChanged(n - this.pendingHeld);
    this.pendingHeld = n;
  }

  get queued(): number {
    return this.pending.size;
  }

  /** The first connection that can take a stream now (most pools have one or two). */
  private ready(): H2Connection | undefined {
    const cs = this.conns;
    for (let i = 0; i < cs.length; i++) if (cs[i].available) return cs[i];
    return undefined;
  }

  /** Moves queued requests onto connections with room; opens one more when none has room. */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queued > 0) {
        const c = this.ready();
        if (c === undefined) break;
        const opts = this.pending.firstOpts();
        const h = this.pending.firstHandler();
        if (h.done) {
          this.pending.shift();
          this.addActive(-1);
          continue;
        }
        if (!c.start(opts, h)) continue; // it was closing: try another
        this.started();
        this.pending.shift();
      }
      if (this.queued > 0 && this.connecting === 0 && !this.destroyed) this.open();
      if (this.closing && this.queued === 0) for (const c of this.conns) c.drain();
    } finally {
      this.flushing = false;
      this.syncPending();
    }
  }

  /** A request got a stream on a connection: the host's rq_total, as Envoy counts it. */
  private started(): true {
    if (this.o.hostStats) this.o.hostStats.rqTotal++;
    return true;
  }

  private open(): void {
    if (!this.limits.tryOpenConnection(this.conns.length === 0)) return;
    this.connecting++;
    // As Envoy's host cx_total and cx_active: from the attempt, so failed connects count too.
    const hs = this.o.hostStats;
    if (hs) hs.cxTotal++, hs.cxActive++;
    this.conns.push(new H2Connection(this, this.o.connect));
  }

  // ---------- H2ConnectionOwner ----------

  onConnected(c: H2Connection): void {
    this.connecting--;
    this.o.stats.total.inc();
    this.o.stats.active.inc();

    if (this.destroyed) return c.destroy();
    if (this.closing && this.queued === 0) return c.drain();
    this.flush();
  }

  onConnectFailed(_c: H2Connection, err: Error): void {
    this.connecting--;
    if (this.destroyed) return; // closed by destroy(), not a failure
    this.o.stats.connectFail.inc();
    if (this.o.hostStats) this.o.hostStats.cxConnectFail++;
    if ((err as { code?: string }).code === CONNECT_TIMEOUT) this.o.stats.connectTimeout.inc();
    // Every waiting request fails, as Envoy purges its pending list (the router may retry elsewhere).
    this.failQueued('connection failure', err);
  }

  onStreamClosed(_c: H2Connection): void {
    this.addActive(-1);
    if (this.queued > 0) this.flush();
  }

  onCapacity(_c: H2Connection): void {
    if (this.queued > 0) this.flush();
  }

  onDraining(_c: H2Connection): void {
    if (this.queued > 0) this.flush();
  }

  onClosed(c: H2Connection, wasConnected: boolean): void {
    const i = this.conns.indexOf(c);
    if (i >= 0) {
      this.conns.splice(i, 1);
      this.limits.connectionClosed();
    }
    if (wasConnected) this.o.stats.active.dec();
    if (this.o.hostStats) this.o.hostStats.cxActive--;
    if (this.queued > 0 && !this.destroyed) this.flush();
    if (this.conns.length === 0 && this.onEmpty) this.onEmpty();
  }

  onMaxRequests(): void {
    this.o.stats.maxRequests?.inc();
  }

  onMaxDurationReached(): void {
    this.o.stats.maxDurationReached?.inc();
  }

  onProtocolError(): void {
    this.o.stats.protocolError?.inc();
  }

  // ---------- lifecycle ----------

  /** Graceful: no new requests; queued and open streams finish; then every connection closes. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.queued === 0) for (const c of [...this.conns]) c.drain();
  }

  /** Now: waiting and running requests fail (connection termination); resolves once every connection closed. */
  destroy(): Promise<void> {
    this.destroyed = true;
    this.failQueued('connection termination', new Http1Error('upstream connection pool destroyed', 'UND_ERR_DESTROYED'));
    if (this.conns.length === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => (this.onEmpty = resolve));
    for (const c of [...this.conns]) c.destroy();
    return done;
  }

  private failQueued(reason: 'connection failure' | 'connection termination', err: Error): void {
    while (this.queued > 0) {
      const h = this.pending.firstHandler();
      this.pending.shift();
      this.addActive(-1);
      if (!h.done) h.onH1Error(reason, err);
    }
    this.syncPending();
  }
}
