/**
 * One upstream attempt (Envoy's UpstreamRequest): an undici dispatch handler that streams the
 * response back to the router chunk by chunk (callbacks, no promise per chunk) with backpressure
 * through the controller, plus the Readable that feeds the request body at downstream's pace.
 */
import { Readable, type Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { UpstreamHost } from '../../interfaces.ts';
import type { ResetReason } from './retry_state.ts';

/** What an attempt reports to its owner (the router filter). */
export interface UpstreamRequestOwner {
  onUpstreamHeaders(u: UpstreamRequest, status: number, headers: Record<string, string | string[] | undefined>): void;
  onUpstreamData(u: UpstreamRequest, chunk: Buffer): void;
  onUpstreamComplete(u: UpstreamRequest, trailers: Record<string, string | string[] | undefined>): void;
  onUpstreamReset(u: UpstreamRequest, reason: ResetReason, err: Error): void;
  onUpstreamUpgrade(u: UpstreamRequest, status: number, headers: Record<string, string | string[] | undefined>, socket: Duplex): void;
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

export class UpstreamRequest implements Dispatcher.DispatchHandler {
  controller: Dispatcher.DispatchController | undefined;
  startTime = Date.now();
  headersReceived = false;
  done = false;
  aborted = false;
  /** Set when the request reached the upstream socket (onRequestStart). */
  connected = false;
  body: BodySource | undefined;
  perTryTimer: NodeJS.Timeout | undefined;
  releaseRetry: (() => void) | undefined;

  constructor(
    private readonly owner: UpstreamRequestOwner,
    readonly host: UpstreamHost,
    readonly attempt: number,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.connected = true;
    if (this.aborted) controller.abort(new Error('aborted'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.aborted) return;
    if (statusCode < 200 && statusCode !== 101) return; // 1xx informational: Envoy drops 100-continue etc.
    this.headersReceived = true;
    this.owner.onUpstreamHeaders(this, statusCode, headers);
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.aborted) this.owner.onUpstreamData(this, chunk);
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.owner.onUpstreamComplete(this, trailers);
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.owner.onUpstreamReset(this, resetReasonOf(err as Error & { code?: string }, this.connected), err);
  }

  onRequestUpgrade(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, socket: Duplex): void {
    if (this.aborted) return void socket.destroy();
    this.done = true;
    this.headersReceived = true;
    this.owner.onUpstreamUpgrade(this, statusCode, headers, socket);
  }

  pause(): void {
    this.controller?.pause();
  }

  resume(): void {
    this.controller?.resume();
  }

  /** Local abort (timeout, retry, downstream reset): nothing more is reported to the owner. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    this.body?.destroy();
    if (!this.done) this.controller?.abort(new Error('upstream request aborted by proxy'));
    this.done = true;
    this.releaseRetry?.();
    this.releaseRetry = undefined;
  }

  finish(): void {
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    this.releaseRetry?.();
    this.releaseRetry = undefined;
  }
}
