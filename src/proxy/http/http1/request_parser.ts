/**
 * Incremental, strict HTTP/1.1 request parser (server side), rejecting what llhttp in strict mode
 * and Envoy reject: bare LF or CR, obs-fold, whitespace before a colon, bad tokens, control bytes
 * in values, Content-Length with Transfer-Encoding, repeated or malformed Content-Length, any
 * transfer coding but a lone "chunked", a missing or repeated Host on HTTP/1.1, an invalid target
 * or version (400), and a header section over the size or count limit (431).
 *
 * It builds the stream's HeaderMap while it reads (pseudo-headers first, names lower-cased,
 * hop-by-hop headers and those named by Connection left out, `te` reduced to "trailers"), so no
 * second pass over the headers is needed. Body bytes are passed on as views of the input.
 * One request at a time: the owner may pause() at a request boundary (a response is pending) and
 * resume() later; bytes that arrive meanwhile are kept, in order.
 */
import type { HeaderMap } from '../../interfaces.ts';
import { ChunkedDecoder, type ChunkedSink } from './chunked.ts';
import { newFieldLine, parseFieldLine } from './field_line.ts';
import { CR, LF, SP, TARGET, TCHAR, equalsLower, latin1 } from './tokens.ts';

export interface RequestHandler {
  /**
   * The head is complete; read it from the parser's fields. After an Upgrade or CONNECT head the
   * parser has stopped, and stop() hands over the bytes that followed the head.
   */
  onRequestHead(p: RequestParser): void;
  onRequestData(chunk: Buffer): void;
  /** The request ended (after its body and trailers, or right after a head without body). */
  onRequestComplete(trailers: HeaderMap | undefined): void;
  /** Called once; the parser ignores input from then on. */
  onRequestError(status: 400 | 431, reason: string): void;
}

export interface RequestLimits {
  /** Bytes of request line plus header section (max_request_headers_kb). */
  maxHeaderBytes: number;
  /** Header lines (common_http_protocol_options.max_headers_count). */
  maxHeaders: number;
}

export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;

const ST_HEAD = 0;
const ST_BODY_LENGTH = 1;
const ST_BODY_CHUNKED = 2;
const ST_STOPPED = 3;

const LINE = newFieldLine();
const H = 0x48;
const T = 0x54;
const P = 0x50;
const SLASH = 0x2f;
const DOT = 0x2e;
const ONE = 0x31;
/** Bytes decoded at once when looking for the end of a head (most heads are smaller). */
const HEAD_WINDOW = 4096;

export class RequestParser implements ChunkedSink {
  // ---- the current request, valid from onRequestHead on ----
  method = '';
  versionMinor = 1;
  headers: HeaderMap = new Map();
  keepAlive = true;
  upgrade = false;
  expect: string | undefined;
  bodyKind = BODY_NONE;

  private state = ST_HEAD;
  private remaining = 0;
  private paused = false;
  /** Input not parsed yet (paused), or the bytes after an upgrade's head. */
  private saved: Buffer | undefined;
  /** The incomplete line of a head that spans reads. */
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;
  private chunked: ChunkedDecoder | undefined;
  private chunkedEnded = false;
  private chunkedTrailers: HeaderMap | undefined;

  // ---- head accumulators ----
  private seenRequestLine = false;
  private headBytes = 0;
  private headerCount = 0;
  private target = '';
  private host: string | undefined;
  private hostCount = 0;
  private contentLength = -1;
  private transferEncoding: string | undefined;
  private teCount = 0;
  private connection: string | undefined;
  private upgradeValue: string | undefined;
  private te: string | undefined;
  /** The decoded text of the lines being parsed, and the buffer offset it starts at. */
  private str = '';
  private strBase = 0;

  constructor(
    private readonly handler: RequestHandler,
    private readonly limits: RequestLimits,
  ) {}

  /** True between the first byte of a request and its end. */
  get inMessage(): boolean {
    return this.state === ST_BODY_LENGTH || this.state === ST_BODY_CHUNKED || (this.state === ST_HEAD && (this.seenRequestLine || this.pending !== undefined));
  }

  /** Bytes received but not parsed (pipelined requests waiting for a response). */
  get hasSaved(): boolean {
    return this.saved !== undefined;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  execute(chunk: Buffer): void {
    if (this.state === ST_STOPPED) return;
    if (this.paused) {
      this.saved = this.saved ? Buffer.concat([this.saved, chunk]) : chunk;
      return;
    }
    let buf = chunk;
    if (this.pending !== undefined && this.state === ST_HEAD) {
      // A line still has no end: keep the piece (cheap for trickled bytes), parse when one arrives.
      if (chunk.indexOf(LF) < 0) {
        this.pendingBytes += chunk.length;
        if (this.headBytes + this.pendingBytes > this.limits.maxHeaderBytes) return this.error(431, 'headers too large');
        this.pending.push(chunk);
        return;
      }
      this.pending.push(chunk);
      buf = Buffer.concat(this.pending);
      this.pending = undefined;
      this.pendingBytes = 0;
    }
    this.run(buf, 0);
  }

  /** Stop after the current request (call from onRequestComplete); input is kept until resume(). */
  pause(): void {
    this.paused = true;
  }

  /** Parse what arrived while paused; may call the handler synchronously. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const s = this.saved;
    this.saved = undefined;
    if (s) this.execute(s);
  }

  /** No more parsing (connection closing or handed over); returns the unparsed bytes. */
  stop(): Buffer | undefined {
    this.state = ST_STOPPED;
    const s = this.saved;
    this.saved = undefined;
    this.pending = undefined;
    return s;
  }

  private run(buf: Buffer, pos: number): void {
    const end = buf.length;
    while (pos < end) {
      switch (this.state) {
        case ST_HEAD:
          pos = this.head(buf, pos);
          if (pos < 0) return;
          break;
        case ST_BODY_LENGTH: {
          const n = Math.min(this.remaining, end - pos);
          this.remaining -= n;
          this.handler.onRequestData(pos === 0 && n === end ? buf : buf.subarray(pos, pos + n));
          pos += n;
          if (this.stopped()) return;
          if (this.remaining === 0 && !this.complete(undefined, buf, pos)) return;
          break;
        }
        case ST_BODY_CHUNKED: {
          const r = this.chunked!.execute(buf, pos);
          if (this.stopped()) return;
          if (r < 0) return this.error(this.chunked!.tooLarge ? 431 : 400, this.chunked!.error);
          pos = r;
          if (this.chunkedEnded) {
            const t = this.chunkedTrailers;
            this.chunkedEnded = false;
            this.chunkedTrailers = undefined;
            if (!this.complete(t, buf, pos)) return;
          }
          break;
        }
        default:
          return;
      }
    }
  }

  /** The handler may stop the parser from inside a callback (connection closed). */
  private stopped(): boolean {
    return this.state === ST_STOPPED;
  }

  onChunkData(chunk: Buffer): void {
    if (this.state !== ST_STOPPED) this.handler.onRequestData(chunk);
  }

  onChunkedEnd(trailers: HeaderMap | undefined): void {
    this.chunkedEnded = true;
    this.chunkedTrailers = trailers;
  }

  /** The request ended at buf[pos]; false when parsing must not go on (paused or stopped). */
  private complete(trailers: HeaderMap | undefined, buf: Buffer, pos: number): boolean {
    this.state = ST_HEAD;
    this.resetHead();
    this.handler.onRequestComplete(trailers);
    if (this.state === ST_STOPPED) return false;
    if (this.paused) {
      if (pos < buf.length) this.saved = this.saved ? Buffer.concat([buf.subarray(pos), this.saved]) : buf.subarray(pos);
      return false;
    }
    return true;
  }

  private resetHead(): void {
    this.seenRequestLine = false;
    this.headBytes = 0;
    this.headerCount = 0;
    this.host = undefined;
    this.hostCount = 0;
    this.contentLength = -1;
    this.transferEncoding = undefined;
    this.teCount = 0;
    this.connection = undefined;
    this.upgradeValue = undefined;
    this.te = undefined;
    this.expect = undefined;
  }

  /** Parses head lines from pos; returns where to go on, or -1 (needs more input, stopped or failed). */
  private head(buf: Buffer, pos: number): number {
    const end = buf.length;
    const max = this.limits.maxHeaderBytes;
    for (;;) {
      // One latin1 decode for the complete lines here (up to the blank line that ends the head,
      // else up to the last LF): names and values are then slices of that string, not a decode
      // each. A window keeps a body that follows in the same read from being decoded too.
      let limit = Math.min(end, pos + HEAD_WINDOW);
      let str = latin1(buf, pos, limit);
      let blank = str.indexOf('\r\n\r\n');
      let stop = blank >= 0 ? blank + 4 : str.lastIndexOf('\n') + 1;
      if (stop === 0 && limit < end) {
        limit = end;
        str = latin1(buf, pos, limit);
        blank = str.indexOf('\r\n\r\n');
        stop = blank >= 0 ? blank + 4 : str.lastIndexOf('\n') + 1;
      }
      if (stop === 0) {
        const rest = end - pos;
        if (this.headBytes + rest > max) return this.fail(431, 'headers too large');
        if (rest > 0) {
          this.pending = [buf.subarray(pos)];
          this.pendingBytes = rest;
        }
        return -1;
      }
      stop += pos;
      const base = pos;
      this.str = str;
      this.strBase = base;
      while (pos < stop) {
        const lf = str.indexOf('\n', pos - base) + base;
        this.headBytes += lf - pos + 1;
        if (this.headBytes > max) return this.fail(431, 'headers too large');
        if (lf === pos || buf[lf - 1] !== CR) return this.fail(400, 'bare LF');
        const e = lf - 1;
        if (!this.seenRequestLine) {
          // RFC 9112 2.2: empty lines before a request line are ignored.
          if (e !== pos && !this.requestLine(buf, pos, e)) return -1;
        } else if (e === pos) {
          return this.headComplete(buf, lf + 1);
        } else if (!this.headerLine(buf, pos, e)) {
          return -1;
        }
        pos = lf + 1;
      }
      if (pos === end) return -1;
    }
  }

  /** The head's text between two buffer offsets (inside the last decoded run of lines). */
  private text(s: number, e: number): string {
    return this.str.slice(s - this.strBase, e - this.strBase);
  }

  private requestLine(buf: Buffer, s: number, e: number): boolean {
    let i = s;
    while (i < e && TCHAR[buf[i]] === 1) i++;
    if (i === s || i === e || buf[i] !== SP) return this.reject(400, 'invalid method');
    this.method = methodName(buf, s, i) ?? this.text(s, i);
    const ts = ++i;
    while (i < e && TARGET[buf[i]] === 1) i++;
    if (i === ts || i === e || buf[i] !== SP) return this.reject(400, 'invalid request target');
    this.target = this.text(ts, i);
    i++;
    if (e - i !== 8 || buf[i] !== H || buf[i + 1] !== T || buf[i + 2] !== T || buf[i + 3] !== P || buf[i + 4] !== SLASH || buf[i + 5] !== ONE || buf[i + 6] !== DOT) {
      return this.reject(400, 'invalid HTTP version');
    }
    const minor = buf[i + 7] - 0x30;
    if (minor !== 0 && minor !== 1) return this.reject(400, 'invalid HTTP version');
    this.versionMinor = minor;
    this.seenRequestLine = true;
    const h: HeaderMap = new Map();
    h.set(':method', this.method);
    h.set(':path', this.target);
    h.set(':authority', '');
    this.headers = h;
    return true;
  }

  private headerLine(buf: Buffer, s: number, e: number): boolean {
    if (!parseFieldLine(buf, s, e, LINE)) return this.reject(400, LINE.error);
    if (++this.headerCount > this.limits.maxHeaders) return this.reject(431, 'too many headers');
    const name = this.text(s, LINE.nameEnd).toLowerCase();
    const vs = LINE.valueStart;
    const ve = LINE.valueEnd;
    switch (name) {
      case 'host':
        this.hostCount++;
        this.host = this.text(vs, ve);
        return true;
      case 'content-length': {
        if (this.contentLength >= 0) return this.reject(400, 'repeated content-length');
        // 1*DIGIT, exact in a double (llhttp: no sign, no list, no whitespace inside).
        if (ve === vs || ve - vs > 15) return this.reject(400, 'invalid content-length');
        let n = 0;
        for (let i = vs; i < ve; i++) {
          const d = buf[i] - 0x30;
          if (d < 0 || d > 9) return this.reject(400, 'invalid content-length');
          n = n * 10 + d;
        }
        this.contentLength = n;
        this.headers.set(name, this.text(vs, ve));
        return true;
      }
      case 'transfer-encoding':
        this.teCount++;
        this.transferEncoding = this.text(vs, ve);
        return true;
      case 'connection': {
        const v = this.text(vs, ve);
        this.connection = this.connection === undefined ? v : `${this.connection}, ${v}`;
        return true;
      }
      case 'upgrade':
        this.upgradeValue ??= this.text(vs, ve);
        return true;
      case 'te': {
        const v = this.text(vs, ve);
        this.te = this.te === undefined ? v : `${this.te}, ${v}`;
        return true;
      }
      case 'expect':
        this.expect = this.text(vs, ve);
        return true;
      case 'keep-alive':
      case 'proxy-connection':
      case 'http2-settings':
        return true;
      default: {
        const h = this.headers;
        const v = this.text(vs, ve);
        const cur = h.get(name);
        if (cur === undefined) h.set(name, v);
        else if (typeof cur === 'string') h.set(name, [cur, v]);
        else cur.push(v);
        return true;
      }
    }
  }

  private headComplete(buf: Buffer, pos: number): number {
    const h = this.headers;
    if (this.hostCount > 1) return this.fail(400, 'repeated host');
    if (this.hostCount === 0 && this.versionMinor === 1) return this.fail(400, 'missing host');
    let body = BODY_NONE;
    if (this.transferEncoding !== undefined) {
      if (this.contentLength >= 0) return this.fail(400, 'content-length with transfer-encoding');
      // Only a lone "chunked": any other coding could not be forwarded once we de-chunk (Envoy: same).
      if (this.teCount !== 1 || !equalsLower(this.transferEncoding, 'chunked')) return this.fail(400, 'invalid transfer-encoding');
      body = BODY_CHUNKED;
    } else if (this.contentLength > 0) {
      body = BODY_LENGTH;
    }
    let close = false;
    let keepAliveToken = false;
    let upgradeToken = false;
    const conn = this.connection;
    let nominated: string[] | undefined;
    if (conn !== undefined) {
      for (let s = 0; s <= conn.length; ) {
        let c = conn.indexOf(',', s);
        if (c < 0) c = conn.length;
        const tok = conn.slice(s, c).trim().toLowerCase();
        s = c + 1;
        if (tok === 'close') close = true;
        else if (tok === 'keep-alive') keepAliveToken = true;
        else if (tok === 'upgrade') upgradeToken = true;
        else if (tok && tok.charCodeAt(0) !== 0x3a) (nominated ??= []).push(tok);
      }
    }
    // RFC 9112 6.1: a chunked HTTP/1.0 request is framed, but the connection must not be reused.
    this.keepAlive = this.versionMinor === 1 ? !close : keepAliveToken && body !== BODY_CHUNKED;
    this.upgrade = (this.upgradeValue !== undefined && upgradeToken) || this.method === 'CONNECT';
    if (nominated) for (const n of nominated) h.delete(n);
    if (this.te !== undefined && !nominated?.includes('te') && hasToken(this.te, 'trailers')) h.set('te', 'trailers');
    if (this.upgrade) {
      if (conn !== undefined) h.set('connection', conn);
      if (this.upgradeValue !== undefined) h.set('upgrade', this.upgradeValue);
      body = BODY_NONE;
    }
    let authority = this.host;
    const target = this.target;
    if (target.charCodeAt(0) !== SLASH && target !== '*') {
      if (this.method === 'CONNECT') {
        authority = target;
      } else {
        // absolute-form (a proxy request): authority and path come from the URL.
        const u = absoluteUrl(target);
        if (!u) return this.fail(400, 'invalid request target');
        authority = u.host;
        h.set(':path', u.pathname + u.search);
      }
    }
    h.set(':authority', authority ?? '');
    this.bodyKind = body;
    if (this.upgrade) {
      // HTTP ends with this head: what follows belongs to the tunnel (the handler takes it with stop()).
      this.state = ST_STOPPED;
      this.saved = pos < buf.length ? buf.subarray(pos) : undefined;
      this.handler.onRequestHead(this);
      return -1;
    }
    this.handler.onRequestHead(this);
    if (this.stopped()) return -1;
    if (body === BODY_LENGTH) {
      this.remaining = this.contentLength;
      this.state = ST_BODY_LENGTH;
    } else if (body === BODY_CHUNKED) {
      const c = (this.chunked ??= new ChunkedDecoder(this, { maxTrailerBytes: this.limits.maxHeaderBytes, maxTrailers: this.limits.maxHeaders }));
      c.reset();
      this.state = ST_BODY_CHUNKED;
    } else {
      return this.complete(undefined, buf, pos) ? pos : -1;
    }
    return pos;
  }

  private fail(status: 400 | 431, reason: string): -1 {
    this.error(status, reason);
    return -1;
  }

  private reject(status: 400 | 431, reason: string): false {
    this.error(status, reason);
    return false;
  }

  private error(status: 400 | 431, reason: string): void {
    if (this.state === ST_STOPPED) return;
    this.state = ST_STOPPED;
    this.saved = undefined;
    this.pending = undefined;
    this.handler.onRequestError(status, reason);
  }
}

/** Common methods as shared literals (no string per request); undefined for others. */
function methodName(buf: Buffer, s: number, e: number): string | undefined {
  const n = e - s;
  const c = buf[s];
  if (n === 3 && c === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === T) return 'GET';
  if (n === 4 && c === P && buf[s + 1] === 0x4f && buf[s + 2] === 0x53 && buf[s + 3] === T) return 'POST';
  if (n === 4 && c === H && buf[s + 1] === 0x45 && buf[s + 2] === 0x41 && buf[s + 3] === 0x44) return 'HEAD';
  if (n === 3 && c === P && buf[s + 1] === 0x55 && buf[s + 2] === T) return 'PUT';
  return undefined;
}

/** A comma-separated list contains `token` (case-insensitive). */
function hasToken(list: string, token: string): boolean {
  for (const t of list.split(',')) if (equalsLower(t.trim(), token)) return true;
  return false;
}

/** scheme "://" ... parsed by WHATWG URL; undefined when not absolute-form or without a host. */
function absoluteUrl(target: string): URL | undefined {
  let i = 0;
  const n = target.length;
  for (; i < n; i++) {
    const c = target.charCodeAt(i) | 0x20;
    const alpha = c >= 0x61 && c <= 0x7a;
    if (i === 0 ? !alpha : !(alpha || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) break;
  }
  if (i === 0 || !target.startsWith('://', i)) return undefined;
  try {
    const u = new URL(target);
    return u.host ? u : undefined;
  } catch {
    return undefined;
  }
}
