/**
 * Writes HTTP/1.1 responses on a raw socket: the head as one latin1 string, the body framed by
 * Content-Length, chunked encoding (HTTP/1.1 without a length) or the connection's close
 * (HTTP/1.0), nothing for HEAD, 1xx, 204 and 304. Head and first body bytes leave in one write: the
 * socket is corked from the head until the end of the tick (or the response's end), as node's
 * http server does. Header names and values are checked so nothing can split a response.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { HeaderMap } from '../../interfaces.ts';
import { equalsLower, isFieldValue, isToken } from './tokens.ts';

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
    if (!isFieldValue(v)) throw invalid(k);
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

function uncorkNT(w: ResponseWriter): void {
  w.flush();
}

export class ResponseWriter {
  private mode = MODE_NONE;
  private corked = false;
  private minor = 1;
  private isHead = false;
  private keepAlive = true;
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
    let s = statusLine(status);
    let close = forceClose || !this.keepAlive;
    let hasLength = false;
    for (const [k, v] of headers) {
      switch (k) {
        case 'connection':
          if (hasCloseToken(v)) close = true;
          continue;
        // Framing and connection management are this writer's.
        case 'transfer-encoding':
        case 'keep-alive':
        case 'proxy-connection':
        case 'upgrade':
        case 'http2-settings':
          continue;
        case 'content-length':
          hasLength = true;
          break;
        default:
          if (k.charCodeAt(0) === 58 /* : */) continue;
      }
      s += fieldLines(k, v);
    }
    if (this.isHead || status < 200 || status === 204 || status === 304) this.mode = MODE_NONE;
    else if (hasLength) this.mode = MODE_LENGTH;
    else if (endStream) {
      // As Envoy: an empty body says so instead of an empty chunked body.
      s += 'content-length: 0\r\n';
      this.mode = MODE_NONE;
    } else if (this.minor === 1) {
      s += 'transfer-encoding: chunked\r\n';
      this.mode = MODE_CHUNKED;
    } else {
      this.mode = MODE_CLOSE;
      close = true;
    }
    if (close) s += 'connection: close\r\n';
    else if (this.minor === 0) s += 'connection: keep-alive\r\n';
    this.closeAfter = close;
    this.started = true;
    s += '\r\n';
    if (endStream) {
      this.socket.write(s, 'latin1');
      this.flush();
      return;
    }
    this.cork();
    this.socket.write(s, 'latin1');
  }

  /** Returns false when the socket is above its high-water mark. */
  writeBody(chunk: Buffer, end: boolean): boolean {
    const sock = this.socket;
    let ok = true;
    const n = chunk.length;
    switch (this.mode) {
      case MODE_LENGTH:
      case MODE_CLOSE:
        if (n) ok = sock.write(chunk);
        break;
      case MODE_CHUNKED:
        if (n) {
          this.cork();
          sock.write(`${n.toString(16)}\r\n`, 'latin1');
          sock.write(chunk);
          ok = sock.write(end ? '\r\n0\r\n\r\n' : '\r\n', 'latin1');
        } else if (end) ok = sock.write('0\r\n\r\n', 'latin1');
        break;
    }
    if (end) this.flush();
    return ok;
  }

  /** Ends a chunked body with trailers; other framings cannot carry them and just end. */
  writeTrailers(trailers: HeaderMap): void {
    if (this.mode === MODE_CHUNKED) {
      let s = '0\r\n';
      for (const [k, v] of trailers) {
        if (k.charCodeAt(0) === 58) continue;
        try {
          s += fieldLines(k, v);
        } catch {
          // An invalid trailer from upstream is dropped rather than failing the response.
        }
      }
      this.socket.write(s + '\r\n', 'latin1');
    }
    this.flush();
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

  /** Lets corked writes go (end of tick or end of response). */
  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(uncorkNT, this);
  }
}
