/**
 * Incremental, strict HTTP/1.1 response parser for one connection: finds each head (16 KiB
 * limit, CRLF only), skips 1xx informational responses (100-continue), stops at a 101 when an
 * upgrade was requested, then frames the body by the RFC 9112 6.3 rules: no body for HEAD, 204
 * and 304; chunked when Transfer-Encoding ends in chunked; Content-Length; else read until the
 * connection closes. Body data and the head go to a sink; completion is a state the caller
 * reads after `execute`, with the offset where the message ended (bytes after it are not ours).
 */
import type { HeaderMap } from '../../interfaces.ts';
import { ChunkedDecoder, type ChunkSink } from './chunked_decoder.ts';
import { parseError, type Http1Error } from './errors.ts';
import { parseResponseHead, ResponseHead } from './response_head.ts';

/** Response head limit: node's default --max-http-header-size, what undici used. */
export const MAX_HEAD = 16 * 1024;

const CR = 13;
const LF = 10;

export const enum Framing {
  /** Waiting for (more of) a head. */
  Head,
  Length,
  Chunked,
  /** Until the connection closes. */
  Close,
  Done,
  /** A 101 to a requested upgrade: the rest of the bytes belong to the new protocol. */
  Upgrade,
  Error,
}

export interface ResponseSink extends ChunkSink {
  /** A final (non-1xx) head; returns false when the message was aborted meanwhile. */
  onResponseHead(head: ResponseHead): boolean;
}

export class ResponseParser {
  readonly head = new ResponseHead();
  framing = Framing.Head;
  /** Whether the connection may carry another request after this response. */
  keepAlive = false;
  error: Http1Error | undefined;
  private remaining = 0;
  private partial: Buffer | undefined;
  private noBody = false;
  private upgradeRequested = false;
  private readonly chunked: ChunkedDecoder;

  constructor(private readonly sink: ResponseSink) {
    this.chunked = new ChunkedDecoder(sink);
  }

  /** Before each request's response: a HEAD response has no body; a 101 is accepted only when upgrading. */
  start(isHead: boolean, upgrade: boolean): void {
    this.framing = Framing.Head;
    this.noBody = isHead;
    this.upgradeRequested = upgrade;
    this.keepAlive = false;
    this.error = undefined;
    this.partial = undefined;
  }

  get trailers(): HeaderMap | undefined {
    return this.framing === Framing.Done ? this.chunked.trailers : undefined;
  }

  /**
   * Parses buf from `start`. Returns where the message (or the upgrade's head) ended when it did
   * in this buffer, else buf.length. On a parse error `framing` is Error and `error` set.
   */
  execute(buf: Buffer, start: number): number {
    let p = start;
    const end = buf.length;
    while (p < end) {
      switch (this.framing) {
        case Framing.Head:
          p = this.headBytes(buf, p);
          if (p < 0) return end;
          break;
        case Framing.Length: {
          const n = Math.min(this.remaining, end - p);
          this.remaining -= n;
          const data = buf.subarray(p, p + n);
          p += n;
          if (this.remaining === 0) this.framing = Framing.Done;
          if (!this.sink.onChunkData(data)) return end;
          break;
        }
        case Framing.Chunked: {
          const r = this.chunked.execute(buf, p, end);
          if (r < 0) return this.fail(this.chunked.error!), end;
          if (this.chunked.done) this.framing = Framing.Done;
          p = r;
          if (this.framing !== Framing.Done) return end;
          break;
        }
        case Framing.Close:
          this.sink.onChunkData(p === 0 ? buf : buf.subarray(p));
          return end;
        default:
          return p;
      }
    }
    return p;
  }

  /** The connection closed: completes a close-delimited body; true when the message is done. */
  finishOnEof(): boolean {
    if (this.framing === Framing.Close) this.framing = Framing.Done;
    return this.framing === Framing.Done;
  }

  /** Whether any of the current response's bytes arrived. */
  get started(): boolean {
    return this.framing !== Framing.Head || this.partial !== undefined;
  }

  /** Head bytes from p; returns the offset after the head, or -1 when more bytes are needed / error / stopped. */
  private headBytes(buf: Buffer, p: number): number {
    let acc = buf;
    let from = p;
    let base = p;
    const prev = this.partial;
    if (prev !== undefined) {
      acc = Buffer.concat([prev, buf.subarray(p)]);
      from = Math.max(0, prev.length - 3);
      base = 0;
    }
    const i = acc.indexOf('\r\n\r\n', from, 'latin1');
    if (i < 0) {
      if (acc.length - base > MAX_HEAD) return this.fail(parseError('HPE_HEADER_OVERFLOW', 'response head too large'));
      // A bare LF never ends a line here: fail now rather than at the limit.
      for (let k = prev ? prev.length : p; k < acc.length; k++) {
        if (acc[k] === LF && (k === base || acc[k - 1] !== CR)) return this.fail(parseError('HPE_STRICT', 'bare LF in response head'));
      }
      this.partial = base === 0 && prev !== undefined ? acc : acc.subarray(base);
      return -1;
    }
    if (i + 4 - base > MAX_HEAD) return this.fail(parseError('HPE_HEADER_OVERFLOW', 'response head too large'));
    this.partial = undefined;
    const err = parseResponseHead(acc, base, i + 2, this.head);
    if (err !== undefined) return this.fail(err);
    // Offset in `buf` just past the head.
    const next = prev !== undefined ? i + 4 - prev.length : i + 4;
    const h = this.head;
    const status = h.status;
    if (status < 200) {
      if (status !== 101) return next; // 1xx informational: dropped, the final head follows
      if (!this.upgradeRequested) return this.fail(parseError('HPE_INVALID_STATUS', '101 without an upgrade request'));
      this.framing = Framing.Upgrade;
      this.upgradeOffset = next;
      return -1;
    }
    this.keepAlive = h.minor === 1 ? !h.connClose : h.connKeepAlive && !h.connClose;
    if (this.noBody || status === 204 || status === 304) {
      this.framing = Framing.Done;
    } else if (h.te) {
      if (h.chunked) {
        this.chunked.reset();
        this.framing = Framing.Chunked;
      } else {
        this.framing = Framing.Close;
        this.keepAlive = false;
      }
    } else if (h.contentLength >= 0) {
      this.remaining = h.contentLength;
      this.framing = h.contentLength === 0 ? Framing.Done : Framing.Length;
    } else {
      this.framing = Framing.Close;
      this.keepAlive = false;
    }
    if (!this.sink.onResponseHead(h)) return -1;
    return next;
  }

  /** Where the 101's head ended in the last buffer (the new protocol's first bytes follow). */
  upgradeOffset = 0;

  private fail(err: Http1Error): number {
    this.error = err;
    this.framing = Framing.Error;
    return -1;
  }
}
