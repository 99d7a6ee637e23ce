/**
 * A keep-alive HTTP/1.1 connection pool for one upstream host (Envoy's http1 ConnPoolImpl):
 * requests wait in a FIFO queue; idle connections are reused most-recently-used first; new ones
 * open while requests wait, as the cluster's circuit breakers allow (max_connections across every
 * host; a request no idle connection will take counts against max_pending_requests and is
 * refused with the 'overflow' reset when the queue is full: Envoy's 503 UO). Before a reused connection gets a request,
 * the event loop runs to its check phase (one setImmediate for all pools), so a close or stray
 * bytes from the server that already arrived are seen first and the request goes elsewhere
 * (undici validates idle sockets the same way). A connect failure fails every waiting request
 * (Envoy purges its pending list likewise). `close()` retires the pool gracefully: queued and
 * in-flight requests finish, then the connections close.
 */
import { ClientConnection, type ConnectOptions, type ConnectionOwner } from './client_connection.ts';
import { CONNECT_TIMEOUT, Http1Error, pendingOverflowError } from './errors.ts';
import { PendingRequests } from '../pending_requests.ts';
import { localLimits, type PoolLimits } from '../pool_limits.ts';
import type { Http1Handler, Http1RequestOptions } from './types.ts';
import type { HostStats } from '../host_stats.ts';

interface Counter {
  inc(n?: number): void;
}
interface Gauge {
  inc(n?: number): void;
  dec(n?: number): void;
}

/** cluster.<name>.upstream_cx_* this pool updates. */
export interface PoolStats {
  total: Counter;
  active: Gauge;
  connectFail: Counter;
  connectTimeout: Counter;
  /** upstream_cx_max_requests: connections closed for max_requests_per_connection. */
  maxRequests?: Counter;
  /** upstream_cx_max_duration_reached: connections drained for max_connection_duration. */
  maxDurationReached?: Counter;
  /** upstream_cx_protocol_error: connections that broke the protocol (a malformed response). */
  protocolError?: Counter;
}

export interface Http1PoolOptions {
  connect: ConnectOptions;
  connectTimeoutMs: number;
  /** Connections of this pool when no `limits` are given. */
  maxConnections: number;
  /** The cluster's circuit breakers (connections and pending requests, cluster-wide). */
  limits?: PoolLimits;
  /** 0: connections never time out idle. */
  idleTimeoutMs: number;
  /** max_requests_per_connection; 0: no limit. */
  maxRequests: number;
  /** max_connection_duration from connect; 0: none. */
  maxDurationMs?: number;
  stats: PoolStats;
  /** The host's own counters (/clusters). */
  hostStats?: HostStats;
}

export class Http1Pool implements ConnectionOwner {
  readonly connectTimeoutMs: number;
  readonly maxRequests: number;
  readonly maxDurationMs: number;
  tlsSession: Buffer | undefined;
  /** Requests queued or running, for LEAST_REQUEST; the cluster's sum is the retry budget's base. */
  private count = 0;
  private readonly idle: ClientConnection[] = [];
  private readonly conns = new Set<ClientConnection>();
  private connecting = 0;
  private readonly pending = new PendingRequests();
  private closing = false;
  private destroyed = false;
  /** Set while this pool waits for the check phase (scheduleFlush). */
  flushQueued = false;
  private onEmpty: (() => void) | undefined;
  private readonly limits: PoolLimits;
  /** This pool's share of the cluster's pending requests (queued beyond its idle connections). */
  private pendingHeld = 0;

  constructor(private readonly o: Http1PoolOptions) {
    this.connectTimeoutMs = o.connectTimeoutMs;
    this.maxRequests = o.maxRequests;
    this.maxDurationMs = o.maxDurationMs ?? 0;
    this.limits = o.limits ?? localLimits(o.maxConnections);
  }

  get active(): number {
    return this.count;
  }

  private addActive(n: number): void {
    this.count += n;
    this.limits.attemptsChanged(n);
  }

  /** Queues a request. Always answers through the handler. */
  dispatch(opts: Http1RequestOptions, h: Http1Handler): boolean {
    if (this.closing || this.destroyed) {
      h.onH1Error('connection termination', new Http1Error('upstream connection pool is closed', 'UND_ERR_CLOSED'));
      return false;
    }
    // One no idle connection will take waits as pending: there must be room in the cluster's queue.
    if (this.queued >= this.idle.length && this.limits.pendingFull()) {
      this.limits.pendingOverflow();
      h.onH1Error('overflow', pendingOverflowError());
      return false;
    }
    this.addActive(1);
    this.pending.push(opts, h);
    this.drive();
    this.syncPending();
    return true;
  }

  /** A queued request its owner gave up on leaves the queue now, freeing its pending slot (Envoy's cancel). */
  cancel(h: Http1Handler): void {
    if (!this.pending.remove(h)) return;
    this.addActive(-1);
    this.syncPending();
  }

  /** Keeps the cluster's pending count equal to the requests queued beyond idle connections. */
  private syncPending(): void {
    const n = this.queued > this.idle.length ? this.queued - this.idle.length : 0;
    if (n === this.pendingHeld) return;
    this.limits.pendingChanged(n - this.pendingHeld);
    this.pendingHeld = n;
  }

  get queued(): number {
    return this.pending.size;
  }

  /** Reuse idle connections at the check phase; open new ones for what they cannot take. */
  private drive(): void {
    if (this.idle.length > 0) scheduleFlush(this);
    let want = this.queued - this.idle.length - this.connecting;
    while (want-- > 0 && this.open());
  }

  /** Opens a connection if the circuit breaker allows it. */
  private open(): boolean {
    if (!this.limits.tryOpenConnection(this.conns.size === 0)) return false;
    this.connecting++;
    // As Envoy's host cx_total and cx_active: from the attempt, so failed connects count too.
    const hs = this.o.hostStats;
    if (hs) hs.cxTotal++, hs.cxActive++;
    this.conns.add(new ClientConnection(this, this.o.connect));
    return true;
  }

  /** Runs queued requests on idle connections (called at the check phase). */
  flush(): void {
    this.flushQueued = false;
    while (this.queued > 0 && this.idle.length > 0) {
      const c = this.idle.pop()!;
      if (!c.isIdle) continue;
      if (!this.startNext(c)) this.idle.push(c);
    }
    if (this.queued > 0) this.drive();
    else if (this.closing) this.closeIdle();
    this.syncPending();
  }

  /** Starts the next live queued request on `c`; false when none is left. */
  private startNext(c: ClientConnection): boolean {
    while (this.queued > 0) {
      const opts = this.pending.firstOpts();
      const h = this.pending.firstHandler();
      this.pending.shift();
      if (h.done) {
        this.addActive(-1);
        continue;
      }
      if (this.o.hostStats) this.o.hostStats.rqTotal++;
      c.start(opts, h);
      return true;
    }
    return false;
  }

  // ---------- ConnectionOwner ----------

  onConnected(c: ClientConnection): void {
    this.connecting--;
    this.o.stats.total.inc();
    this.o.stats.active.inc();

    // A fresh connection needs no validation: straight to work.
    if (!this.startNext(c)) this.onReleased(c);
    this.syncPending();
  }

  onConnectFailed(_c: ClientConnection, err: Error): void {
    this.connecting--;
    if (this.destroyed) return; // closed by destroy(), not a failure
    this.o.stats.connectFail.inc();
    if (this.o.hostStats) this.o.hostStats.cxConnectFail++;
    if ((err as { code?: string }).code === CONNECT_TIMEOUT) this.o.stats.connectTimeout.inc();
    // Every waiting request fails, as Envoy purges its pending list: an upstream that refuses
    // connections should not collect a queue (the router may retry elsewhere).
    while (this.queued > 0) {
      const h = this.pending.firstHandler();
      this.pending.shift();
      this.addActive(-1);
      if (!h.done) h.onH1Error('connection failure', err);
    }
    this.syncPending();
  }

  onReleased(c: ClientConnection): void {
    if (this.destroyed || (this.closing && this.queued === 0)) return c.destroy();
    this.idle.push(c);
    c.armIdle(this.o.idleTimeoutMs);
    if (this.queued > 0) scheduleFlush(this);
    this.syncPending();
  }

  onClosed(c: ClientConnection, wasConnected: boolean): void {
    if (this.conns.delete(c)) this.limits.connectionClosed();
    const i = this.idle.lastIndexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    if (wasConnected) this.o.stats.active.dec();
    if (this.o.hostStats) this.o.hostStats.cxActive--;
    if (this.queued > 0 && !this.destroyed) this.drive();
    this.syncPending();
    if (this.conns.size === 0 && this.onEmpty) this.onEmpty();
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

  onRequestEnded(): void {
    this.addActive(-1);
  }

  retry(opts: Http1RequestOptions, h: Http1Handler): void {
    // First in line: it was already running.
    this.pending.unshift(opts, h);
    if (this.destroyed) return this.failQueued(new Http1Error('upstream connection pool destroyed', 'UND_ERR_DESTROYED'));
    this.drive();
    this.syncPending();
  }

  // ---------- lifecycle ----------

  /** Graceful: no new requests; queued and running ones finish; then every connection closes. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.queued === 0) this.closeIdle();
  }

  private closeIdle(): void {
    for (const c of this.idle.splice(0)) c.destroy();
  }

  /** Now: waiting and running requests fail (connection termination); resolves once every socket closed. */
  destroy(): Promise<void> {
    this.destroyed = true;
    this.failQueued(new Http1Error('upstream connection pool destroyed', 'UND_ERR_DESTROYED'));
    if (this.conns.size === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => (this.onEmpty = resolve));
    for (const c of [...this.conns]) c.destroy();
    return done;
  }

  private failQueued(err: Error): void {
    while (this.queued > 0) {
      const h = this.pending.firstHandler();
      this.pending.shift();
      this.addActive(-1);
      if (!h.done) h.onH1Error('connection termination', err);
    }
    this.syncPending();
  }
}

// One setImmediate for every pool with work for idle connections.
let pending: Http1Pool[] = [];
let scheduled = false;

function scheduleFlush(p: Http1Pool): void {
  if (p.flushQueued) return;
  p.flushQueued = true;
  pending.push(p);
  if (!scheduled) {
    scheduled = true;
    setImmediate(runFlushes);
  }
}

function runFlushes(): void {
  scheduled = false;
  const list = pending;
  pending = [];
  for (let i = 0; i < list.length; i++) list[i].flush();
}
