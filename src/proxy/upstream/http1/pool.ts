/**
 * A keep-alive HTTP/1.1 connection pool for one upstream host (Envoy's http1 ConnPoolImpl):
 * requests wait in a FIFO queue; idle connections are reused most-recently-used first; new ones
 * open while requests wait, up to `maxConnections`. Before a reused connection gets a request,
 * the event loop runs to its check phase (one setImmediate for all pools), so a close or stray
 * bytes from the server that already arrived are seen first and the request goes elsewhere
 * (undici validates idle sockets the same way). A connect failure fails every waiting request
 * (Envoy purges its pending list likewise). `close()` retires the pool gracefully: queued and
 * in-flight requests finish, then the connections close.
 */
import { ClientConnection, type ConnectOptions, type ConnectionOwner } from './client_connection.ts';
import { CONNECT_TIMEOUT, Http1Error } from './errors.ts';
import { PendingRequests } from '../pending_requests.ts';
import type { Http1Handler, Http1RequestOptions } from './types.ts';

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
}

export interface Http1PoolOptions {
  connect: ConnectOptions;
  connectTimeoutMs: number;
  maxConnections: number;
  /** 0: connections never time out idle. */
  idleTimeoutMs: number;
  /** max_requests_per_connection; 0: no limit. */
  maxRequests: number;
  stats: PoolStats;
}

export class Http1Pool implements ConnectionOwner {
  readonly connectTimeoutMs: number;
  readonly maxRequests: number;
  tlsSession: Buffer | undefined;
  /** Requests queued or running, for LEAST_REQUEST. */
  active = 0;
  private readonly idle: ClientConnection[] = [];
  private readonly conns = new Set<ClientConnection>();
  private connecting = 0;
  private readonly pending = new PendingRequests();
  private closing = false;
  private destroyed = false;
  /** Set while this pool waits for the check phase (scheduleFlush). */
  flushQueued = false;
  private onEmpty: (() => void) | undefined;

  constructor(private readonly o: Http1PoolOptions) {
    this.connectTimeoutMs = o.connectTimeoutMs;
    this.maxRequests = o.maxRequests;
  }

  /** Queues a request. Always answers through the handler. */
  dispatch(opts: Http1RequestOptions, h: Http1Handler): boolean {
    if (this.closing || this.destroyed) {
      h.onH1Error('connection termination', new Http1Error('upstream connection pool is closed', 'UND_ERR_CLOSED'));
      return false;
    }
    this.active++;
    this.pending.push(opts, h);
    this.drive();
    return true;
  }

  get queued(): number {
    return this.pending.size;
  }

  /** Reuse idle connections at the check phase; open new ones for what they cannot take. */
  private drive(): void {
    if (this.idle.length > 0) scheduleFlush(this);
    let want = this.queued - this.idle.length - this.connecting;
    while (want-- > 0 && this.conns.size < this.o.maxConnections) this.open();
  }

  private open(): void {
    this.connecting++;
    this.conns.add(new ClientConnection(this, this.o.connect));
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
  }

  /** Starts the next live queued request on `c`; false when none is left. */
  private startNext(c: ClientConnection): boolean {
    while (this.queued > 0) {
      const opts = this.pending.firstOpts();
      const h = this.pending.firstHandler();
      this.pending.shift();
      if (h.done) {
        this.active--;
        continue;
      }
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
  }

  onConnectFailed(_c: ClientConnection, err: Error): void {
    this.connecting--;
    if (this.destroyed) return; // closed by destroy(), not a failure
    this.o.stats.connectFail.inc();
    if ((err as { code?: string }).code === CONNECT_TIMEOUT) this.o.stats.connectTimeout.inc();
    // Every waiting request fails, as Envoy purges its pending list: an upstream that refuses
    // connections should not collect a queue (the router may retry elsewhere).
    while (this.queued > 0) {
      const h = this.pending.firstHandler();
      this.pending.shift();
      this.active--;
      if (!h.done) h.onH1Error('connection failure', err);
    }
  }

  onReleased(c: ClientConnection): void {
    if (this.destroyed || (this.closing && this.queued === 0)) return c.destroy();
    this.idle.push(c);
    c.armIdle(this.o.idleTimeoutMs);
    if (this.queued > 0) scheduleFlush(this);
  }

  onClosed(c: ClientConnection, wasConnected: boolean): void {
    this.conns.delete(c);
    const i = this.idle.lastIndexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    if (wasConnected) this.o.stats.active.dec();
    if (this.queued > 0 && !this.destroyed) this.drive();
    if (this.conns.size === 0 && this.onEmpty) this.onEmpty();
  }

  onRequestEnded(): void {
    this.active--;
  }

  retry(opts: Http1RequestOptions, h: Http1Handler): void {
    // First in line: it was already running.
    this.pending.unshift(opts, h);
    if (this.destroyed) return this.failQueued(new Http1Error('upstream connection pool destroyed', 'UND_ERR_DESTROYED'));
    this.drive();
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
      this.active--;
      if (!h.done) h.onH1Error('connection termination', err);
    }
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
