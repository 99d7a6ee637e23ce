/**
 * Incremental decoder of the chunked transfer coding (RFC 9112 7.1), for request and response
 * bodies alike. Strict as llhttp's strict mode: hex sizes only (no sign, no whitespace), overflow
 * rejected, extensions checked against the grammar and bounded, CRLF exactly where the grammar
 * puts it (no bare LF or CR), trailer lines validated like header lines and bounded.
 * Data is handed on as views of the input, never copied.
 */
import type { HeaderMap } from '../../interfaces.ts';
import { appendHeader } from '../common/header_utils.ts';
import { newFieldLine, parseFieldLine } from './field_line.ts';
import { CR, FIELD_VALUE, HEX, LF, QDTEXT, TCHAR, latin1 } from './tokens.ts';

export interface ChunkedSink {
  onChunkData(chunk: Buffer): void;
  /** The terminating chunk and trailer section were read; `trailers` is undefined when there were none. */
  onChunkedEnd(trailers: HeaderMap | undefined): void;
}

export interface ChunkedLimits {
  /** Bytes of trailer section allowed (the header limit is the natural choice). */
  maxTrailerBytes: number;
  maxTrailers: number;
  /** Extension bytes allowed per chunk header (node caps them at 16 KiB since CVE-2024-22019). */
  maxExtensionBytes?: number;
}

const S_SIZE_START = 0;
const S_SIZE = 1;
const S_EXT_NAME_START = 2;
const S_EXT_NAME = 3;
const S_EXT_VALUE_START = 4;
const S_EXT_TOKEN = 5;
const S_EXT_QUOTED = 6;
const S_EXT_QUOTED_ESC = 7;
const S_EXT_AFTER_QUOTED = 8;
const S_SIZE_LF = 9;
const S_DATA = 10;
const S_DATA_CR = 11;
const S_DATA_LF = 12;
const S_TRAILER_START = 13;
const S_TRAILER_LINE = 14;
const S_END_LF = 15;
const S_DONE = 16;
const S_ERROR = 17;

const EQ = 0x3d;
const SEMI = 0x3b;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Sizes stay exact doubles; anything larger is an overflow, as in llhttp. */
const MAX_SIZE_BEFORE_SHIFT = Math.floor((Number.MAX_SAFE_INTEGER - 15) / 16);
const LINE = newFieldLine();

export class ChunkedDecoder {
  private state = S_SIZE_START;
  private remaining = 0;
  private extBytes = 0;
  private trailers: HeaderMap | undefined;
  private trailerCount = 0;
  private trailerBytes = 0;
  private linePieces: Buffer[] | undefined;
  /** Why execute() returned -1. */
  error = '';
  /** The error was a trailer limit (answer 431 rather than 400). */
  tooLarge = false;
  private readonly maxExt: number;

  constructor(
    private readonly sink: ChunkedSink,
    private readonly limits: ChunkedLimits,
  ) {
    this.maxExt = limits.maxExtensionBytes ?? 16 * 1024;
  }

  /** Ready for the next body. */
  reset(): void {
    this.state = S_SIZE_START;
    this.remaining = 0;
    this.extBytes = 0;
    this.trailers = undefined;
    this.trailerCount = 0;
    this.trailerBytes = 0;
    this.linePieces = undefined;
    this.error = '';
    this.tooLarge = false;
  }

  get done(): boolean {
    return this.state === S_DONE;
  }

  /**
   * Consumes buf[pos..]. Returns where the body ended (the index after the last CRLF; the sink has
   * had onChunkedEnd), buf.length when everything was consumed and more is needed, or -1 on error.
   */
  execute(buf: Buffer, pos: number): number {
    const end = buf.length;
    let state = this.state;
    while (pos < end) {
      const c = buf[pos];
      switch (state) {
        case S_SIZE_START: {
          const v = HEX[c];
          if (v < 0) return this.fail('invalid chunk size');
          this.remaining = v;
          state = S_SIZE;
          pos++;
          break;
        }
        case S_SIZE: {
          const v = HEX[c];
          if (v >= 0) {
            if (this.remaining > MAX_SIZE_BEFORE_SHIFT) return this.fail('chunk size overflow');
            this.remaining = this.remaining * 16 + v;
          } else if (c === CR) state = S_SIZE_LF;
          else if (c === SEMI) (state = S_EXT_NAME_START), (this.extBytes = 1);
          else return this.fail('invalid chunk size');
          pos++;
          break;
        }
        case S_SIZE_LF:
          if (c !== LF) return this.fail('chunk size line not ended by CRLF');
          pos++;
          this.extBytes = 0;
          state = this.remaining === 0 ? S_TRAILER_START : S_DATA;
          break;
        case S_DATA: {
          const n = Math.min(this.remaining, end - pos);
          this.remaining -= n;
          if (this.remaining === 0) state = S_DATA_CR;
          this.state = state;
          this.sink.onChunkData(pos === 0 && n === end ? buf : buf.subarray(pos, pos + n));
          pos += n;
          break;
        }
        case S_DATA_CR:
          if (c !== CR) return this.fail('chunk data not followed by CRLF');
          state = S_DATA_LF;
          pos++;
          break;
        case S_DATA_LF:
          if (c !== LF) return this.fail('chunk data not followed by CRLF');
          state = S_SIZE_START;
          pos++;
          break;
        case S_TRAILER_START:
          if (c === CR) {
            state = S_END_LF;
            pos++;
          } else state = S_TRAILER_LINE;
          break;
        case S_TRAILER_LINE: {
          const lf = buf.indexOf(LF, pos);
          const stop = lf < 0 ? end : lf;
          this.trailerBytes += stop - pos + 1;
          if (this.trailerBytes > this.limits.maxTrailerBytes) return this.fail('trailers too large', true);
          const piece = buf.subarray(pos, stop);
          if (lf < 0) {
            (this.linePieces ??= []).push(piece);
            pos = end;
            break;
          }
          const line = this.linePieces ? Buffer.concat([...this.linePieces, piece]) : piece;
          this.linePieces = undefined;
          if (!this.addTrailer(line)) return -1;
          state = S_TRAILER_START;
          pos = lf + 1;
          break;
        }
        case S_END_LF: {
          if (c !== LF) return this.fail('trailer section not ended by CRLF');
          this.state = S_DONE;
          const t = this.trailers;
          this.trailers = undefined;
          this.sink.onChunkedEnd(t);
          return pos + 1;
        }
        case S_DONE:
          return pos;
        case S_ERROR:
          return -1;
        default:
          // Chunk extensions: *( ";" token [ "=" ( token / quoted-string ) ] ), no whitespace.
          if (++this.extBytes > this.maxExt) return this.fail('chunk extensions too long');
          state = this.extension(state, c);
          if (state === S_ERROR) return this.fail('invalid chunk extension');
          pos++;
      }
    }
    this.state = state;
    return end;
  }

  private extension(state: number, c: number): number {
    switch (state) {
      case S_EXT_NAME_START:
        return TCHAR[c] === 1 ? S_EXT_NAME : S_ERROR;
      case S_EXT_NAME:
        if (TCHAR[c] === 1) return S_EXT_NAME;
        return c === EQ ? S_EXT_VALUE_START : c === SEMI ? S_EXT_NAME_START : c === CR ? S_SIZE_LF : S_ERROR;
      case S_EXT_VALUE_START:
        return c === DQUOTE ? S_EXT_QUOTED : TCHAR[c] === 1 ? S_EXT_TOKEN : S_ERROR;
      case S_EXT_TOKEN:
        if (TCHAR[c] === 1) return S_EXT_TOKEN;
        return c === SEMI ? S_EXT_NAME_START : c === CR ? S_SIZE_LF : S_ERROR;
      case S_EXT_QUOTED:
        if (c === DQUOTE) return S_EXT_AFTER_QUOTED;
        if (c === BACKSLASH) return S_EXT_QUOTED_ESC;
        return QDTEXT[c] === 1 ? S_EXT_QUOTED : S_ERROR;
      case S_EXT_QUOTED_ESC:
        return FIELD_VALUE[c] === 1 ? S_EXT_QUOTED : S_ERROR;
      case S_EXT_AFTER_QUOTED:
        return c === SEMI ? S_EXT_NAME_START : c === CR ? S_SIZE_LF : S_ERROR;
    }
    return S_ERROR;
  }

  /** `line` is a trailer line up to (not including) its LF. */
  private addTrailer(line: Buffer): boolean {
    const n = line.length;
    let why = '';
    if (n === 0 || line[n - 1] !== CR) why = 'trailer line not ended by CRLF';
    else if (!parseFieldLine(line, 0, n - 1, LINE)) why = LINE.error;
    else if (++this.trailerCount > this.limits.maxTrailers) why = 'too many trailers';
    if (why) {
      this.fail(why, why === 'too many trailers');
      return false;
    }
    appendHeader((this.trailers ??= new Map()), latin1(line, 0, LINE.nameEnd).toLowerCase(), latin1(line, LINE.valueStart, LINE.valueEnd));
    return true;
  }

  private fail(why: string, tooLarge = false): -1 {
    this.state = S_ERROR;
    this.error = why;
    this.tooLarge = tooLarge;
    return -1;
  }
}
