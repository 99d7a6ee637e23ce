/**
 * One upstream attempt (Envoy's UpstreamRequest): the handler of the HTTP/1.1 pool
 * (upstream/http1, callbacks with a ready HeaderMap) and of undici's HTTP/2 client (its legacy
 * dispatch handler API), streaming the response back to the router chunk by chunk (no promise
 * per chunk) with backpressure, plus the body source that feeds the request body at
 * downstream's pace.
 */
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HeaderMap, Timer, UpstreamHost } from '../../interfaces.ts';
import { rawHeadersToMap } from '../common/header_utils.ts';
import type { Http1ResetReason } from '../../upstream/http1/errors.ts';
import type { BodySink, Http1Handler, Http1Stream, StreamingBody } from '../../upstream/http1/types.ts';
import type { ResetReason } from './retry_state.ts';

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

  /** The attempt was aborted: like detach, and a sink that reads on its own (h2's Readable) is told. */
  destroy(): void {
    const sink = this.sink;
    this.detach();
    sink?.onBodyAbort?.();
  }
}

const CONNECT_FAIL = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT']);

/** Maps undici/node errors to Envoy's reset reasons. */
export function resetReasonOf(err: Error & { code?: string }, headersSentUpstream: boolean): ResetReason {
  const code = err.code ?? '';
  if (CONNECT_FAIL.has(code) || (code === 'ECONNRESET' && !headersSentUpstream)) return 'connection failure';
  if (/REFUSED_STREAM/.test(err.message)) return 'remote refused stream reset';
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return 'connection termination';
  if (code === 'ERR_HTTP2_STREAM_ERROR' || code === 'UND_ERR_INFO') return 'remote reset';
  if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return 'protocol error';
  return 'connection termination';
}

type RawHeaders = Buffer[] | string[] | Record<string, string | string[]> | null | undefined;

/**
 * The legacy handler API is used on purpose: it skips undici's per-request wrapper, and its
 * controller API drops h2 trailers (undici 7.30). Raw headers (flat Buffer/string lists, or an
 * object for h2 trailers) become a HeaderMap in one pass (rawHeadersToMap).
 */
export class UpstreamRequest implements Dispatcher.DispatchHandler, Http1Handler {
  private abortFn: ((err?: Error) => void) | undefined;
  /** The HTTP/1.1 connection running this attempt. */
  private stream: Http1Stream | undefined;
  private resumeFn: (() => void) | undefined;
  private paused = false;
  headersReceived = false;
  done = false;
  aborted = false;
  /** Set when undici handed the request to a connection (onConnect). */
  connected = false;
  body: BodySource | undefined;
  perTryTimer: Timer | undefined;
  releaseRetry: (() => void) | undefined;

  constructor(
    private readonly owner: UpstreamRequestOwner,
    readonly host: UpstreamHost,
    readonly attempt: number,
    /** When the attempt started (the clock's ms), for x-envoy-upstream-service-time. */
    readonly startTime: number,
  ) {}

  // ---------- HTTP/1.1 pool (Http1Handler) ----------

  onH1Attach(s: Http1Stream): void {
    this.stream = s;
    this.connected = true;
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
    this.onUpgrade(status, headers, socket);
  }

  // ---------- undici (HTTP/2) legacy handler ----------

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    this.connected = true;
    if (this.aborted) abort(new Error('aborted'));
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void): boolean {
    if (this.aborted) return true;
    if (statusCode < 200) return true; // 1xx informational: Envoy drops 100-continue etc.
    this.resumeFn = resume;
    this.headersReceived = true;
    this.owner.onUpstreamHeaders(this, statusCode, rawHeadersToMap(headers, false));
    return !this.paused;
  }

  onData(chunk: Buffer): boolean {
    if (!this.aborted) this.owner.onUpstreamData(this, chunk);
    return !this.paused;
  }

  onComplete(trailers: string[] | null): void {
    if (this.aborted || this.done) return;
    this.done = true;
    const t = trailers as RawHeaders;
    const m = t && (Array.isArray(t) ? t.length > 0 : Object.keys(t).length > 0) ? rawHeadersToMap(t, false) : undefined;
    this.owner.onUpstreamComplete(this, m && m.size ? m : undefined);
  }

  onError(err: Error): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.owner.onUpstreamReset(this, resetReasonOf(err as Error & { code?: string }, this.connected), err);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | HeaderMap | null, socket: Duplex): void {
    if (this.aborted) return void socket.destroy();
    this.done = true;
    this.headersReceived = true;
    this.owner.onUpstreamUpgrade(this, statusCode, headers instanceof Map ? headers : rawHeadersToMap(headers, true), socket);
  }

  pause(): void {
    this.paused = true;
    this.stream?.pause(this);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.stream) this.stream.resume(this);
    else this.resumeFn?.();
  }

  /** Local abort (timeout, retry, downstream reset): nothing more is reported to the owner. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.perTryTimer?.cancel();
    this.body?.destroy();
    if (!this.done) {
      if (this.stream) this.stream.abort(this);
      else this.abortFn?.(new Error('upstream request aborted by proxy'));
    }
    this.done = true;
    this.releaseRetry?.();
    this.releaseRetry = undefined;
  }

  finish(): void {
    this.perTryTimer?.cancel();
    this.releaseRetry?.();
    this.releaseRetry = undefined;
  }
}
