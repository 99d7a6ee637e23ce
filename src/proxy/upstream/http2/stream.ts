/**
 * One request on an upstream HTTP/2 connection (Envoy's CodecClient stream): the request body at
 * downstream's pace through the BodySink (flow control through the session's windows), and the
 * response reported to the request's handler as the HTTP/1.1 pool does: final head as a
 * HeaderMap, data chunks, trailers on completion, or a reset reason. While the handler has it
 * paused, response data waits here and the stream's window is not re-opened.
 */
import type { HeaderMap } from '../../interfaces.ts';
import { ErrorCode } from '../../http/http2/frame.ts';
import { StreamState } from '../../http/http2/session.ts';
import type { BodySink, Http1Handler, Http1Stream, StreamingBody } from '../http1/types.ts';
import { h2ResetReason, Http2StreamError } from './reset_reason.ts';

/** What a request needs of its session. */
export interface RequestSession {
  writeData(st: H2Request, chunk: Buffer, endStream: boolean): boolean;
  ackStream(st: H2Request): void;
  streamError(id: number, code: number): void;
  readonly peerInitialWindow: number;
}

const EMPTY = Buffer.alloc(0);

export class H2Request extends StreamState implements Http1Stream, BodySink {
  /** Undefined once the handler was told the outcome (or aborted). */
  handler: Http1Handler | undefined;
  /** The final response head arrived. */
  responded = false;
  /** A HEAD request: its response has no body whatever content-length says. */
  readonly isHead: boolean;
  private body: StreamingBody | undefined;
  private trailers: HeaderMap | undefined;
  /** Response data held while paused, and whether the response ended behind it. */
  private inbox: Buffer[] | undefined;
  private endHeld = false;

  constructor(
    private readonly session: RequestSession,
    id: number,
    handler: Http1Handler,
    method: string,
  ) {
    super(id, session.peerInitialWindow);
    this.handler = handler;
    this.isHead = method === 'HEAD';
  }

  /** Sends the request body: a Buffer at once, a streaming one as it arrives. */
  sendBody(body: Buffer | StreamingBody): void {
    if (Buffer.isBuffer(body)) {
      this.session.writeData(this, body, true);
      return;
    }
    this.body = body;
    body.attach(this);
  }

  // ---------- BodySink ----------

  onBodyChunk(chunk: Buffer): boolean {
    if (this.body === undefined || chunk.length === 0) return true;
    return this.session.writeData(this, chunk, false);
  }

  onBodyEnd(): void {
    if (this.body === undefined) return;
    this.body = undefined;
    this.session.writeData(this, EMPTY, true);
  }

  /** The session has window and socket room again. */
  writable(): void {
    this.body?.pull();
  }

  // ---------- Http1Stream (the handler's controls) ----------

  abort(h: Http1Handler): void {
    if (this.handler !== h) return;
    this.handler = undefined;
    this.detachBody();
    // RST_STREAM(CANCEL): the stream goes, the connection stays (Envoy resets the stream only).
    if (!this.closed) this.session.streamError(this.id, ErrorCode.CANCEL);
  }

  pause(h: Http1Handler): void {
    if (this.handler === h) this.readDisabled = true;
  }

  resume(h: Http1Handler): void {
    if (this.handler !== h || !this.readDisabled) return;
    this.readDisabled = false;
    const held = this.inbox;
    this.inbox = undefined;
    if (held) for (const c of held) this.handler?.onH1Data(c);
    if (this.endHeld) {
      this.endHeld = false;
      this.complete();
    }
    this.session.ackStream(this);
  }

  // ---------- from the session ----------

  headers(status: number, headers: HeaderMap): void {
    this.responded = true;
    this.handler?.onH1Headers(status, headers);
  }

  data(chunk: Buffer): void {
    if (this.readDisabled) (this.inbox ??= []).push(chunk);
    else this.handler?.onH1Data(chunk);
  }

  /** The response ended (END_STREAM on its last DATA or HEADERS), with `trailers` if any. */
  ended(trailers: HeaderMap | undefined): void {
    if (trailers && trailers.size > 0) this.trailers = trailers;
    if (this.readDisabled) this.endHeld = true;
    else this.complete();
  }

  private complete(): void {
    const h = this.handler;
    if (h === undefined) return;
    this.handler = undefined;
    if (!this.localEnded) {
      // The response is complete before the request body: the rest of it is not needed
      // (RFC 9113 8.1); the stream is closed without error.
      this.detachBody();
      if (!this.closed) this.session.streamError(this.id, ErrorCode.NO_ERROR);
    }
    h.onH1Complete(this.trailers);
  }

  /** The stream closed: a handler still waiting hears why. */
  closedWith(resetCode: number | undefined, byPeer: boolean): void {
    this.detachBody();
    // A response held while paused is complete: it is delivered on resume, not failed.
    if (this.endHeld) return;
    const h = this.handler;
    this.handler = undefined;
    if (h === undefined) return;
    const reason = h2ResetReason(resetCode, byPeer);
    const gone = resetCode === undefined;
    h.onH1Error(reason, new Http2StreamError(gone ? 'upstream connection closed' : `upstream stream reset (code ${resetCode})`, gone ? 'ECONNRESET' : 'ERR_HTTP2_STREAM_ERROR', resetCode));
  }

  private detachBody(): void {
    const b = this.body;
    if (b === undefined) return;
    this.body = undefined;
    b.detach();
  }
}
