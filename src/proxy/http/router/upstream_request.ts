/**
 * One upstream attempt (Envoy's UpstreamRequest): the handler of the upstream HTTP pools
 * (upstream/http1 and upstream/http2: callbacks with a ready HeaderMap), streaming the response
 * back to the router chunk by chunk (no promise per chunk) with backpressure, plus the body
 * source that feeds the request body at downstream's pace.
 */
import type { Duplex } from 'node:stream';
import type { HeaderMap, HttpConnPool, Timer, UpstreamHost } from '../../interfaces.ts';
import type { Http1ResetReason } from '../../upstream/http1/errors.ts';
import type { BodySink, Http1Handler, Http1Stream, StreamingBody } from '../../upstream/http1/types.ts';
import type { ResetReason } from './retry_state.ts';
import type { IdleDeadline } from '../../../common/idle_deadline.ts';

/** What an attempt reports to its owner (the router filter). */
export interface UpstreamRequestOwner {
  /** Response headers without hop-by-hop ones. */
  onUpstreamHeaders(u: UpstreamRequest, status: number, headers: HeaderMap): void;
  onUpstreamData(u: UpstreamRequest, chunk: Buffer): void;
  /** `trailers` is undefined when the response had none (the common case: no Map is built). */
  onUpstreamComplete(u: UpstreamRequest, trailers: HeaderMap | undefined): void;
  onUpstreamReset(u: UpstreamRequest, reason: ResetReason, err: Error): void;
  /** Headers keep upgrade/connection. */
  onUpstreamUpgrade(u: UpstreamRequest, status: number, headers: HeaderMap, socket: Duplex): void;
  onBodyPull(): void;
  /** The pool handed the attempt to a connection (per_try_idle_timeout may start). */
  onUpstreamAttach(u: UpstreamRequest): void;
}

/** Chunks buffered before a connection takes the body: beyond this, downstream reading pauses. */
const BODY_HIGH_WATER = 64 * 1024;

/**
 * The request body of an attempt that is still arriving from downstream: the router pushes
 * chunks (false: stop reading downstream until onBodyPull), the upstream connection takes them
 * as its sink once it has one (until then they wait here). No stream machinery per request.
 */
export class BodySource implements StreamingBody {
  private chunks: Buffer[] | undefined;
  private bytes = 0;
  private ended = false;
  private gone = false;
  /** push() returned false: the router paused downstream reading and waits for onBodyPull. */
  private blocked = false;
  private sink: BodySink | undefined;

  constructor(private readonly owner: UpstreamRequestOwner) {}

  /** A chunk, or null at the end; false asks the caller to stop reading downstream. */
  push(chunk: Buffer | null): boolean {
    if (this.gone) return true;
    const sink = this.sink;
    if (chunk === null) {
      if (sink !== undefined) sink.onBodyEnd();
      else this.ended = true;
      return true;
    }
    if (sink !== undefined) {
      if (sink.onBodyChunk(chunk)) return true;
      this.blocked = true;
      return false;
    }
    (this.chunks ??= []).push(chunk);
    this.bytes += chunk.length;
    if (this.bytes < BODY_HIGH_WATER) return true;
    this.blocked = true;
    return false;
  }

  attach(sink: BodySink): void {
    this.sink = sink;
    const chunks = this.chunks;
    this.chunks = undefined;
    this.bytes = 0;
    let room = true;
    if (chunks !== undefined) for (let i = 0; i < chunks.length && !this.gone; i++) room = sink.onBodyChunk(chunks[i]);
    if (this.gone) return;
    if (this.ended) sink.onBodyEnd();
    else if (room) this.pull();
  }

  pull(): void {
    if (!this.blocked) return;
    this.blocked = false;
    this.owner.onBodyPull();
  }

  /** The attempt is over: later chunks are dropped, and downstream reading may go on. */
  detach(): void {
    if (this.gone) return;
    this.gone = true;
    this.sink = undefined;
    this.chunks = undefined;
    this.pull();
  }
}

/** One attempt; the pool it runs on calls the Http1Handler methods (HTTP/1.1 and HTTP/2 alike). */
export class UpstreamRequest implements Http1Handler {
  /** The connection (HTTP/1.1) or stream (HTTP/2) running this attempt. */
  private stream: Http1Stream | undefined;
  private paused = false;
  headersReceived = false;
  done = false;
  aborted = false;
  /** Set when the pool handed the request to a connection. */
  connected = false;
  body: BodySource | undefined;
  perTryTimer: Timer | undefined;
  /** per_try_idle_timeout, started by the router; response headers and data touch it. */
  idle: IdleDeadline | undefined;
  releaseRetry: (() => void) | undefined;
  /** A gRPC 200 whose status comes in the trailers: outlier detection hears of it then. */
  grpcOutcomeDeferred = false;
  /** The pool the attempt was dispatched to, to leave its queue if abandoned before a connection. */
  pool: HttpConnPool | undefined;

  constructor(
    private readonly owner: UpstreamRequestOwner,
    readonly host: UpstreamHost,
    readonly attempt: number,
    /** When the attempt started (the clock's ms), for x-envoy-upstream-service-time. */
    readonly startTime: number,
  ) {}

  // ---------- the pool's callbacks (Http1Handler) ----------

  onH1Attach(s: Http1Stream): void {
    this.stream = s;
    this.connected = true;
    this.owner.onUpstreamAttach(this);
  }

  onH1Headers(status: number, headers: HeaderMap): void {
    if (this.aborted) return;
    this.headersReceived = true;
    this.owner.onUpstreamHeaders(this, status, headers);
  }

  onH1Data(chunk: Buffer): void {
    if (!this.aborted) this.owner.onUpstreamData(this, chunk);
  }

  onH1Complete(trailers: HeaderMap | undefined): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.owner.onUpstreamComplete(this, trailers);
  }

  onH1Error(reason: Http1ResetReason, err: Error): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.owner.onUpstreamReset(this, reason, err);
  }

  onH1Upgrade(status: number, headers: HeaderMap, socket: Duplex): void {
    if (this.aborted) return void socket.destroy();
    this.done = true;
    this.headersReceived = true;
    this.owner.onUpstreamUpgrade(this, status, headers, socket);
  }

  pause(): void {
    this.paused = true;
    this.stream?.pause(this);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.stream?.resume(this);
  }

  /** Local abort (timeout, retry, downstream reset): nothing more is reported to the owner. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.perTryTimer?.cancel();
    this.idle?.stop();
    this.body?.detach();
    if (!this.done) this.stream?.abort(this);
    if (!this.connected) this.pool?.cancel?.(this);
    this.done = true;
    this.releaseRetry?.();
    this.releaseRetry = undefined;
  }

  finish(): void {
    this.perTryTimer?.cancel();
    this.idle?.stop();
    this.releaseRetry?.();
    this.releaseRetry = undefined;
  }
}
