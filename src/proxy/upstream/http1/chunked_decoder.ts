/**
 * Incremental decoder of the chunked transfer coding (RFC 9112 7.1), strict as llhttp in strict
 * mode: hex sizes without whitespace (at most 13 digits), extensions without control
 * characters, CRLF exactly after each size line and each chunk's data, then a trailer section
 * parsed like a head's fields. Data is handed out as subarrays of the input (no copy).
 */
import type { HeaderMap } from '../../interfaces.ts';
import { FIELD_VALUE, HEX } from '../../http/http1/tokens.ts';
import { parseError, type Http1Error } from './errors.ts';
import { parseTrailers } from './response_head.ts';

const CR = 13;
const LF = 10;
const SEMI = 59;

const enum S {
  Size,
  SizeDigits,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  Trailers,
  Done,
}

/** Receives decoded data. */
export interface ChunkSink {
  /** Returns false when the message was aborted meanwhile: decoding stops. */
  onChunkData(data: Buffer): boolean;
}

/** Trailer section limit (as the head limit). */
const MAX_TRAILERS = 16 * 1024;

export class ChunkedDecoder {
  private state = S.Size;
  private remaining = 0;
  private digits = 0;
  private trailerBuf: Buffer | undefined;
  /** Trailers of the message once done (undefined when it had none). */
  trailers: HeaderMap | undefined;
  error: Http1Error | undefined;

  constructor(private readonly sink: ChunkSink) {}

  reset(): void {
    this.state = S.Size;
    this.remaining = this.digits = 0;
    this.trailerBuf = undefined;
    this.trailers = undefined;
    this.error = undefined;
  }

  get done(): boolean {
    return this.state === S.Done;
  }

  /**
   * Decodes buf[start, end). Returns the offset just past the message when it ends in this
   * buffer, `end` when more is needed or the sink stopped it, or -1 on error (`error` set).
   */
  execute(buf: Buffer, start: number, end: number): number {
    let p = start;
    while (p < end) {
      switch (this.state) {
        case S.Size:
        case S.SizeDigits: {
          const c = buf[p];
          const v = HEX[c];
          if (v >= 0) {
            if (++this.digits > 13) return this.fail('HPE_INVALID_CHUNK_SIZE', 'chunk size too large');
            this.remaining = this.remaining * 16 + v;
            this.state = S.SizeDigits;
            p++;
            break;
          }
          if (this.state === S.Size) return this.fail('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size');
          if (c === CR) this.state = S.SizeLf;
          else if (c === SEMI) this.state = S.Ext;
          else return this.fail('HPE_INVALID_CHUNK_SIZE', 'invalid character after chunk size');
          p++;
          break;
        }
        case S.Ext: {
          const c = buf[p];
          if (c === CR) this.state = S.SizeLf;
          else if (FIELD_VALUE[c] === 0) return this.fail('HPE_INVALID_CHUNK_EXTENSIONS', 'invalid chunk extension');
          p++;
          break;
        }
        case S.SizeLf: {
          if (buf[p] !== LF) return this.fail('HPE_STRICT', 'expected LF after chunk size');
          p++;
          this.digits = 0;
          if (this.remaining === 0) {
            this.state = S.Trailers;
          } else {
            this.state = S.Data;
          }
          break;
        }
        case S.Data: {
          const n = Math.min(this.remaining, end - p);
          this.remaining -= n;
          const chunk = buf.subarray(p, p + n);
          p += n;
          if (this.remaining === 0) this.state = S.DataCr;
          if (!this.sink.onChunkData(chunk)) return end;
          break;
        }
        case S.DataCr:
          if (buf[p] !== CR) return this.fail('HPE_STRICT', 'expected CRLF after chunk data');
          this.state = S.DataLf;
          p++;
          break;
        case S.DataLf:
          if (buf[p] !== LF) return this.fail('HPE_STRICT', 'expected CRLF after chunk data');
          this.state = S.Size;
          p++;
          break;
        case S.Trailers:
          return this.trailerBytes(buf, p, end);
        case S.Done:
          return p;
      }
    }
    return p;
  }

  /** The trailer section ends with an empty line; fast path: it is "\r\n" right away. */
  private trailerBytes(buf: Buffer, p: number, end: number): number {
    if (this.trailerBuf === undefined && end - p >= 2 && buf[p] === CR && buf[p + 1] === LF) {
      this.state = S.Done;
      return p + 2;
    }
    const acc = this.trailerBuf === undefined ? buf.subarray(p, end) : Buffer.concat([this.trailerBuf, buf.subarray(p, end)]);
    const prev = this.trailerBuf === undefined ? 0 : this.trailerBuf.length;
    // End of section: "\r\n" at the very start, or "\r\n\r\n" anywhere.
    let stop = -1;
    if (acc.length >= 2 && acc[0] === CR && acc[1] === LF) stop = 0;
    else {
      const i = acc.indexOf('\r\n\r\n', Math.max(0, prev - 3), 'latin1');
      if (i >= 0) stop = i + 2;
    }
    if (stop < 0) {
      if (acc.length > MAX_TRAILERS) return this.fail('HPE_HEADER_OVERFLOW', 'trailers too large');
      // A bare LF can never end the section: fail now rather than wait for the limit.
      for (let i = prev; i < acc.length; i++) if (acc[i] === LF && (i === 0 || acc[i - 1] !== CR)) return this.fail('HPE_STRICT', 'bare LF in trailers');
      this.trailerBuf = acc;
      return end;
    }
    if (stop > 0) {
      const t: HeaderMap = new Map();
      const err = parseTrailers(acc, 0, stop, t);
      if (err) return (this.error = err), -1;
      if (t.size) this.trailers = t;
    }
    this.trailerBuf = undefined;
    this.state = S.Done;
    // Bytes of this buffer consumed: the section's end (stop + 2) minus what was carried over.
    return p + (stop + 2 - prev);
  }

  private fail(code: string, message: string): number {
    this.error = parseError(code, message);
    return -1;
  }
}
