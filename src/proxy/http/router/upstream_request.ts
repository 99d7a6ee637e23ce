/**
 * One upstream attempt (Envoy's UpstreamRequest): an undici dispatch handler that streams the
 * response back to the router chunk by chunk (callbacks, no promise per chunk) with backpressure
 * through the controller, plus the Readable that feeds the request body at downstream's pace.
 */
import { Readable, type Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HeaderMap, Timer, UpstreamHost } from '../../interfaces.ts';
import { rawHeadersToMap } from '../common/header_utils.ts';
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

/** The request body of an attempt that is still arriving from downstream. */
export class BodySource extends Readable {
  constructor(private readonly owner: UpstreamRequestOwner) {
    super({ highWaterMark: 64 * 1024 });
  }
  override _read(): void {
    this.owner.onBodyPull();
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
export class UpstreamRequest implements Dispatcher.DispatchHandler {
  private abortFn: ((err?: Error) => void) | undefined;
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

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    if (this.aborted) return void socket.destroy();
    this.done = true;
    this.headersReceived = true;
    this.owner.onUpstreamUpgrade(this, statusCode, rawHeadersToMap(headers, true), socket);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resumeFn?.();
  }

  /** Local abort (timeout, retry, downstream reset): nothing more is reported to the owner. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.perTryTimer?.cancel();
    this.body?.destroy();
    if (!this.done) this.abortFn?.(new Error('upstream request aborted by proxy'));
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
