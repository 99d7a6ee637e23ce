/**
 * Writes HTTP/1.1 responses on a raw socket: the body framed by Content-Length, chunked encoding
 * (HTTP/1.1 without a length) or the connection's close (HTTP/1.0), nothing for HEAD, 1xx, 204
 * and 304. Head and first body bytes leave in one write: the head's fields wait for them until the
 * end of the tick, then both are copied into one Buffer (cheaper than cork/writev for the small
 * responses that dominate; large chunks are corked instead). The head is never built as a string:
 * its fields are copied straight into that Buffer (about 1 KB less garbage per response).
 * Header names and values are checked so nothing can split a response.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { HeaderMap } from '../../interfaces.ts';
import { copyLatin1, equalsLower, isFieldValue, isHeaderValue, isToken, writeLatin1 } from './tokens.ts';

const MODE_NONE = 0;
const MODE_LENGTH = 1;
const MODE_CHUNKED = 2;
const MODE_CLOSE = 3;

const statusLines: string[] = [];

/** "HTTP/1.1 200 OK\r\n", built once per status code. */
export function statusLine(status: number): string {
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new Error(`invalid status code ${status}`);
  return (statusLines[status] ??= `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`);
}

function invalid(name: string): Error {
  return new Error(`invalid response header ${JSON.stringify(name)}`);
}

/** "name: value\r\n" lines of every non-pseudo header, for heads written verbatim (upgrades, errors). */
export function rawHead(status: number, headers: HeaderMap): string {
  let s = statusLine(status);
  for (const [k, v] of headers) {
    if (k.charCodeAt(0) === 58 /* : */) continue;
    s += fieldLines(k, v);
  }
  return s + '\r\n';
}

function fieldLines(k: string, v: string | string[]): string {
  if (!isToken(k)) throw invalid(k);
  if (typeof v === 'string') {
    if (!isHeaderValue(k, v)) throw invalid(k);
    return `${k}: ${v}\r\n`;
  }
  let s = '';
  for (let i = 0; i < v.length; i++) {
    if (!isFieldValue(v[i])) throw invalid(k);
    s += `${k}: ${v[i]}\r\n`;
  }
  return s;
}

function hasCloseToken(v: string | string[]): boolean {
  const list = typeof v === 'string' ? v : v.join(',');
  if (equalsLower(list, 'close')) return true;
  for (const t of list.split(',')) if (equalsLower(t.trim(), 'close')) return true;
  return false;
}

/** Head and body up to this size are copied into one Buffer (one write, no cork); larger bodies are corked instead. */
const COPY_LIMIT = 16 * 1024;
const EMPTY = Buffer.alloc(0);

export class ResponseWriter {
  private mode = MODE_NONE;
  private minor = 1;
  private isHead = false;
  private keepAlive = true;
  /** A head waiting for the first body bytes (written with them, or alone at the end of the tick). */
  private headPending = false;
  private headLine = '';
  /** The head's fields, name and value in turn (validated, latin1), reused response after response. */
  private readonly fields: string[] = [];
  private fieldCount = 0;
  /** Bytes of the head: status line, fields, the empty line. */
  private headLen = 0;
  /** While a head's fields are read: a `connection: close` among them; a content-length among them. */
  private closeSeen = false;
  private hasLength = false;
  private flushQueued = false;
  private readonly flushTask = (): void => this.flush();
  /** The connection must close once this response is written. */
  closeAfter = false;
  /** Some of this response is on the wire (an error can no longer be answered with a response). */
  started = false;

  constructor(private readonly socket: Socket) {}

  /** Resets for the response to a new request. */
  begin(versionMinor: number, isHead: boolean, keepAlive: boolean): void {
    this.minor = versionMinor;
    this.isHead = isHead;
    this.keepAlive = keepAlive;
    this.closeAfter = !keepAlive;
    this.started = false;
    this.mode = MODE_NONE;
  }

  /** Throws on a header that cannot be written (the stream resets rather than sending it). */
  writeHead(status: number, headers: HeaderMap, endStream: boolean, forceClose: boolean): void {
    const line = statusLine(status);
    this.fieldCount = 0;
    this.headLen = line.length + 2;
    this.closeSeen = false;
    this.hasLength = false;
    // forEach with this writer as receiver: no entry array per field, no closure per response.
    headers.forEach(this.addField, this);
    let len = this.headLen;
    let close = forceClose || !this.keepAlive || this.closeSeen;
    const hasLength = this.hasLength;
    if (this.isHead || status < 200 || status === 204 || status === 304) this.mode = MODE_NONE;
    else if (hasLength) this.mode = MODE_LENGTH;
    else if (endStream) {
      // As Envoy: an empty body says so instead of an empty chunked body.
      len += this.field('content-length', '0');
      this.mode = MODE_NONE;
    } else if (this.minor === 1) {
      len += this.field('transfer-encoding', 'chunked');
      this.mode = MODE_CHUNKED;
    } else {
      this.mode = MODE_CLOSE;
      close = true;
    }
    if (close) {
      len += this.field('connection', 'close');
    } else if (this.minor === 0) {
      len += this.field('connection', 'keep-alive');
    }
    this.closeAfter = close;
    this.started = true;
    this.headLine = line;
    this.headLen = len;
    this.headPending = true;
    if (endStream) {
      this.flush();
      return;
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      // A microtask, not a tick: the same moment (after the current callback, so a body written
      // in it goes out with the head), without a tick object per response.
      queueMicrotask(this.flushTask);
    }
  }

  private addField(v: string | string[], k: string): void {
    switch (k) {
      case 'connection':
        if (hasCloseToken(v)) this.closeSeen = true;
        return;
      // Framing and connection management are this writer's.
      case 'transfer-encoding':
      case 'keep-alive':
      case 'proxy-connection':
      case 'upgrade':
      case 'http2-settings':
        return;
      case 'content-length':
        this.hasLength = true;
        break;
      default:
        if (k.charCodeAt(0) === 58 /* : */) return;
    }
    if (!isToken(k)) throw invalid(k);
    if (typeof v === 'string') {
      if (!isHeaderValue(k, v)) throw invalid(k);
      this.headLen += this.field(k, v);
    } else {
      for (let i = 0; i < v.length; i++) {
        if (!isFieldValue(v[i])) throw invalid(k);
        this.headLen += this.field(k, v[i]);
      }
    }
  }

  /** Adds "name: value" to the head's fields; returns its bytes on the wire. */
  private field(k: string, v: string): number {
    const f = this.fields;
    f[this.fieldCount++] = k;
    f[this.fieldCount++] = v;
    return k.length + v.length + 4;
  }

  /** The pending head and `extra` more bytes' room: a Buffer and where the head ends. */
  private takeHead(extra: number): Buffer {
    this.headPending = false;
    const b = Buffer.allocUnsafe(this.headLen + extra);
    let o = copyLatin1(b, this.headLine, 0);
    const f = this.fields;
    for (let i = 0; i < this.fieldCount; i += 2) {
      o = copyLatin1(b, f[i], o);
      b[o++] = 0x3a; // ':'
      b[o++] = 0x20;
      o = copyLatin1(b, f[i + 1], o);
      b[o++] = 0x0d;
      b[o++] = 0x0a;
    }
    b[o++] = 0x0d;
    b[o] = 0x0a;
    return b;
  }

  /** Returns false when the socket is above its high-water mark. */
  writeBody(chunk: Buffer, end: boolean): boolean {
    let prefix = '';
    let suffix = '';
    let data = chunk;
    const n = chunk.length;
    switch (this.mode) {
      case MODE_CHUNKED:
        if (n) {
          prefix = `${n.toString(16)}\r\n`;
          suffix = end ? '\r\n0\r\n\r\n' : '\r\n';
        } else if (end) suffix = '0\r\n\r\n';
        break;
      case MODE_NONE:
        data = EMPTY;
        break;
    }
    return this.emit(prefix, data, suffix);
  }

  /** Ends a chunked body with trailers; other framings cannot carry them and just end. */
  writeTrailers(trailers: HeaderMap): void {
    this.flush();
    let s = '';
    if (this.mode === MODE_CHUNKED) {
      s += '0\r\n';
      for (const [k, v] of trailers) {
        if (k.charCodeAt(0) === 58) continue;
        try {
          s += fieldLines(k, v);
        } catch {
          // An invalid trailer from upstream is dropped rather than failing the response.
        }
      }
      s += '\r\n';
    }
    if (s.length) this.socket.write(s, 'latin1');
  }

  /** The interim response to `Expect: 100-continue`. */
  writeContinue(): void {
    this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
  }

  /** A complete response without body, written by the codec itself (417). */
  writeEmpty(status: number): void {
    this.started = true;
    this.mode = MODE_NONE;
    this.socket.write(`${statusLine(status)}content-length: 0\r\n${this.closeAfter ? 'connection: close\r\n' : ''}\r\n`, 'latin1');
  }

  /** Writes a head that no body bytes followed within the tick (a streamed or slow body). */
  flush(): void {
    this.flushQueued = false;
    if (this.headPending) this.socket.write(this.takeHead(0));
  }

  /** Pending head + prefix + data + suffix in one write: copied into one Buffer when small, corked when large. */
  private emit(prefix: string, data: Buffer, suffix: string): boolean {
    const sock = this.socket;
    const n = data.length;
    const head = this.headPending ? this.headLen : 0;
    if (n > COPY_LIMIT) {
      sock.cork();
      if (head) sock.write(this.takeHead(0));
      if (prefix.length) sock.write(prefix, 'latin1');
      sock.write(data);
      if (suffix.length) sock.write(suffix, 'latin1');
      sock.uncork();
      return !sock.writableNeedDrain;
    }
    const extra = prefix.length + n + suffix.length;
    if (head === 0) {
      if (extra === 0) return !sock.writableNeedDrain;
      if (extra === n) return sock.write(data);
    }
    const b = head ? this.takeHead(extra) : Buffer.allocUnsafe(extra);
    if (prefix.length) writeLatin1(b, prefix, head);
    if (n) data.copy(b, head + prefix.length);
    if (suffix.length) writeLatin1(b, suffix, head + prefix.length + n);
    return sock.write(b);
  }
}
