/**
 * The client side of an upstream HTTP/2 connection (RFC 9113) on a socket the connection opened:
 * the frame work is ../../http/http2/session.ts; this side opens streams for requests, checks
 * response header blocks (a final :status, no stray pseudo-headers or connection-specific
 * fields, a body that matches its content-length) and reports them to each stream's request.
 */
import type { Socket } from 'node:net';
import type { HeaderMap } from '../../interfaces.ts';
import { ErrorCode, Flag, Setting } from '../../http/http2/frame.ts';
import { ConnectionError, Http2Session } from '../../http/http2/session.ts';
import { FieldBlock } from '../../http/http2/fields.ts';
import type { Http1Handler } from '../http1/types.ts';
import { encodeRequestHead } from './request_headers.ts';
import { H2Request } from './stream.ts';

/** What the session tells its connection. */
export interface ClientSessionOwner {
  /** After each SETTINGS from the server; the first completes the connection. */
  onSettings(first: boolean, maxConcurrentStreams: number | undefined): void;
  onGoaway(lastStreamId: number, code: number): void;
  /** A stream closed (any way): a slot is free. */
  onStreamClosed(r: H2Request): void;
  /** A malformed response, or a connection error we sent: upstream_cx_protocol_error. */
  onProtocolError(): void;
}

/** The highest stream id a client may open (RFC 9113 5.1.1). */
const MAX_STREAM_ID = 2 ** 31 - 1;

export class H2ClientSession extends Http2Session<H2Request> {
  #nextId = 1;

  constructor(
    socket: Socket,
    private readonly owner: ClientSessionOwner,
    maxResponseHeadersBytes: number,
  ) {
    super(socket, false, [[Setting.ENABLE_PUSH, 0]], 2 * maxResponseHeadersBytes + 65536);
  }

  /** Stream ids left: none means the connection must be replaced. */
  get exhausted(): boolean {
    return this.#nextId > MAX_STREAM_ID;
  }

  get isClosed(): boolean {
    return this.closed || this.goawaySent || this.peerGoaway;
  }

  /** Opens a stream with the request head; the body (if any) follows through the returned request. */
  request(method: string, path: string, scheme: string, headers: readonly string[] | HeaderMap | null | undefined, endStream: boolean, h: Http1Handler): H2Request {
    const id = this.#nextId;
    this.#nextId += 2;
    this.lastStream = id;
    const r = new H2Request(this, id, h, method);
    this.streams.set(id, r);
    encodeRequestHead(this.encoder, method, path, scheme, headers);
    this.headerFrames(id, endStream, this.encoder.end());
    if (endStream) r.localEnded = true;
    return r;
  }

  protected onHeaderBlock(id: number, flags: number, buf: Buffer, start: number, end: number): void {
    const r = this.streams.get(id);
    const fields = new FieldBlock(r?.responded ? 'trailers' : 'response');
    this.decodeBlock(buf, start, end, fields.add);
    if (!r) {
      if (this.isIdle(id) || (id & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on a stream the client did not open');
      if (this.wasReset(id)) return;
      throw new ConnectionError(ErrorCode.STREAM_CLOSED, 'HEADERS on a closed stream');
    }
    if (r.remoteEnded) throw new ConnectionError(ErrorCode.STREAM_CLOSED, 'HEADERS after the end of the stream');
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (r.responded) {
      if (!this.acceptTrailers(r, fields.error !== undefined, endStream)) return;
      r.ended(fields.headers);
      return this.maybeClose(r);
    }
    const status = fields.status();
    if (status === undefined || status === 101) return this.streamError(id, ErrorCode.PROTOCOL_ERROR);
    if (status < 200) {
      // Informational: the final head is still to come.
      if (endStream) this.streamError(id, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const noBody = r.isHead || status === 204 || status === 304;
    if (!noBody) r.contentLength = fields.contentLength;
    if (endStream && r.contentLength > 0) return this.streamError(id, ErrorCode.PROTOCOL_ERROR);
    if (endStream) r.remoteEnded = true;
    r.headers(status, fields.headers);
    if (endStream) {
      r.ended(undefined);
      this.maybeClose(r);
    }
  }

  protected onStreamData(r: H2Request, chunk: Buffer, endStream: boolean): void {
    if (!r.responded) return this.streamError(r.id, ErrorCode.PROTOCOL_ERROR);
    if (chunk.length > 0) r.data(chunk);
    if (endStream) r.ended(undefined);
  }

  protected onWritable(r: H2Request): void {
    r.writable();
  }

  protected onStreamClosed(r: H2Request, resetCode: number | undefined, byPeer: boolean): void {
    r.closedWith(resetCode, byPeer);
    this.owner.onStreamClosed(r);
    this.closeIfDone();
  }

  protected onGoaway(lastStreamId: number, code: number): void {
    // Streams past the server's last stream id were not taken (RFC 9113 6.8): they end as
    // refused, which a retry policy may resend elsewhere.
    for (const r of [...this.streams.values()]) if (r.id > lastStreamId) this.closeStream(r, ErrorCode.REFUSED_STREAM, true);
    this.owner.onGoaway(lastStreamId, code);
    this.closeIfDone();
  }

  /** Every RST_STREAM PROTOCOL_ERROR this side sends is for a malformed response. */
  override streamError(id: number, code: number): void {
    if (code === ErrorCode.PROTOCOL_ERROR && this.streams.has(id)) this.owner.onProtocolError();
    super.streamError(id, code);
  }

  protected override onGoawaySent(code: number): void {
    if (code !== ErrorCode.NO_ERROR) this.owner.onProtocolError();
  }

  protected onSettings(first: boolean): void {
    this.owner.onSettings(first, this.peerMaxStreams);
  }
}
