/**
 * One request on an upstream HTTP/2 connection (Envoy's CodecClient stream): writes the request
 * (head, body at downstream's pace through the BodySource sink, flow control through node's
 * write/drain), and reports the response to the request's handler as the HTTP/1.1 pool does:
 * final head as a HeaderMap, data chunks, trailers on completion, or a reset reason. node's
 * stream events are bound to functions shared by every stream (the request is found through a
 * symbol on the stream): no closure per request.
 */
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { HeaderMap } from '../../interfaces.ts';
import { rawHeadersToMap } from '../../http/common/header_utils.ts';
import type { BodySink, Http1Handler, Http1Stream, StreamingBody } from '../http1/types.ts';
import { h2ResetReason, Http2StreamError } from './reset_reason.ts';

/** What a stream tells its connection. */
export interface StreamOwner {
  /** The stream is closed: its slot is free. */
  onStreamClosed(r: H2Request): void;
  /** True once the connection is gone or going with an error (streams then end as connection terminations). */
  readonly broken: boolean;
}

const kRequest = Symbol('tsmesh.h2request');
type NodeStream = ClientHttp2Stream & { [kRequest]?: H2Request };

export class H2Request implements Http1Stream, BodySink {
  /** Undefined once the handler was told the outcome (or aborted). */
  private handler: Http1Handler | undefined;
  private body: StreamingBody | undefined;
  private trailers: HeaderMap | undefined;
  private err: Error | undefined;

  constructor(
    private readonly owner: StreamOwner,
    private readonly stream: NodeStream,
    handler: Http1Handler,
  ) {
    this.handler = handler;
    stream[kRequest] = this;
    stream.on('response', onResponse);
    stream.on('data', onData);
    stream.on('trailers', onTrailers);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  }

  /** Sends the request body: a Buffer at once, a streaming one as it arrives. */
  sendBody(body: Buffer | StreamingBody): void {
    if (Buffer.isBuffer(body)) {
      this.stream.end(body);
      return;
    }
    this.body = body;
    this.stream.on('drain', onDrain);
    body.attach(this);
  }

  // ---------- BodySink ----------

  onBodyChunk(chunk: Buffer): boolean {
    if (this.body === undefined || chunk.length === 0) return true;
    return this.stream.write(chunk);
  }

  onBodyEnd(): void {
    if (this.body === undefined) return;
    this.body = undefined;
    this.stream.end();
  }

  // ---------- Http1Stream (the handler's controls) ----------

  abort(h: Http1Handler): void {
    if (this.handler !== h) return;
    this.handler = undefined;
    this.detachBody();
    // RST_STREAM(CANCEL): the stream goes, the connection stays (Envoy resets the stream only).
    if (!this.stream.closed) this.stream.close(constants.NGHTTP2_CANCEL);
  }

  pause(h: Http1Handler): void {
    // A paused stream stops consuming: node then holds back WINDOW_UPDATEs (flow control).
    if (this.handler === h) this.stream.pause();
  }

  resume(h: Http1Handler): void {
    if (this.handler === h) this.stream.resume();
  }

  // ---------- node stream events ----------

  response(headers: IncomingHttpHeaders): void {
    const h = this.handler;
    if (h === undefined) return;
    h.onH1Headers(Number(headers[':status']), rawHeadersToMap(headers as Record<string, string | string[]>, false));
  }

  data(chunk: Buffer): void {
    this.handler?.onH1Data(chunk);
  }

  trailersIn(headers: IncomingHttpHeaders): void {
    const m = rawHeadersToMap(headers as Record<string, string | string[]>, false);
    if (m.size > 0) this.trailers = m;
  }

  end(): void {
    const h = this.handler;
    if (h === undefined) return;
    const rst = this.stream.rstCode;
    // node ends the readable side of a stream its connection dropped too, with a reset code.
    if (rst !== undefined && rst !== constants.NGHTTP2_NO_ERROR) return;
    this.handler = undefined;
    if (this.body !== undefined) {
      // The response is complete before the request body: the rest of it is not needed
      // (RFC 9113 8.1); the stream is closed without error.
      this.detachBody();
      if (!this.stream.closed) this.stream.close(constants.NGHTTP2_NO_ERROR);
    }
    h.onH1Complete(this.trailers);
  }

  error(err: Error): void {
    this.err ??= err;
  }

  closed(): void {
    const h = this.handler;
    this.handler = undefined;
    this.detachBody();
    this.owner.onStreamClosed(this);
    if (h === undefined) return;
    const rst = this.stream.rstCode;
    const gone = this.owner.broken;
    const reason = h2ResetReason(rst, gone);
    h.onH1Error(reason, this.err ?? new Http2StreamError(gone ? 'upstream connection closed' : `upstream stream reset (code ${rst})`, gone ? 'ECONNRESET' : 'ERR_HTTP2_STREAM_ERROR', rst));
  }

  drain(): void {
    this.body?.pull();
  }

  private detachBody(): void {
    const b = this.body;
    if (b === undefined) return;
    this.body = undefined;
    b.detach();
  }
}

function onResponse(this: NodeStream, headers: IncomingHttpHeaders): void {
  this[kRequest]!.response(headers);
}
function onData(this: NodeStream, chunk: Buffer): void {
  this[kRequest]!.data(chunk);
}
function onTrailers(this: NodeStream, headers: IncomingHttpHeaders): void {
  this[kRequest]!.trailersIn(headers);
}
function onEnd(this: NodeStream): void {
  this[kRequest]!.end();
}
function onError(this: NodeStream, err: Error): void {
  this[kRequest]!.error(err);
}
function onClose(this: NodeStream): void {
  this[kRequest]!.closed();
}
function onDrain(this: NodeStream): void {
  this[kRequest]!.drain();
}
