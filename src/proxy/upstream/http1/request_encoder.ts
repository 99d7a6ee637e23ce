/**
 * The request head: request line, Host first, the Connection line, then
 * the router's headers in its order, each name and value checked (tokens; no CR, LF or other
 * controls, so no header injection reaches the wire). The framing line (content-length or
 * transfer-encoding) is left to the writer, which knows the body. Headers the client owns are
 * taken out of the list: host, content-length (read as the declared length), connection
 * ("close" honoured), transfer-encoding, keep-alive, upgrade. The head is kept as its checked
 * pieces and copied into the Buffer that is written: never built as a string (no concatenation
 * garbage, no flattening copy per request).
 */
import type { HeaderMap } from '../../interfaces.ts';
import { copyLatin1, isFieldValue, isHeaderValue, isToken } from '../../http/http1/tokens.ts';

/** Methods whose requests carry a body by definition: an empty one is sent as content-length: 0 (as undici does). */
export function expectsPayload(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'QUERY' || method === 'PROPFIND' || method === 'PROPPATCH';
}

/** Reused per connection: the outputs of one `encode`. */
export class RequestEncoder {
  /** The head up to (not including) the framing line and the final CRLF: pieces, `count` of them used. */
  private readonly parts: string[] = [];
  private count = 0;
  private len = 0;
  /** content-length the caller declared, -1 if none. */
  declaredLength = -1;
  /** The caller's headers asked to close the connection after this request. */
  wantsClose = false;

  /**
   * `headers` is a flat [name, value, ...] list or a HeaderMap (pseudo-headers skipped,
   * :authority as Host when no host entry). Returns an error message, or undefined.
   */
  encode(method: string, path: string, headers: readonly string[] | HeaderMap | null | undefined, upgrade: string | undefined, close: boolean): string | undefined {
    this.declaredLength = -1;
    this.wantsClose = false;
    if (!isToken(method)) return 'invalid method';
    if (!isRequestTarget(path)) return 'invalid request target';
    let host: string | undefined;
    // Request line and Host first; the Connection line goes in slot 2 once the headers are read.
    this.count = 3;
    this.len = 0;
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i];
        const value = headers[i + 1];
        if (name === 'host') {
          if (host !== undefined) return 'duplicate host header';
          host = value;
          continue;
        }
        if (!this.field(name, value)) return `invalid ${name} header`;
      }
    } else if (headers) {
      for (const [name, v] of headers as HeaderMap) {
        if (name.charCodeAt(0) === 58 /* : */) continue;
        if (name === 'host') {
          host = typeof v === 'string' ? v : v[0];
          continue;
        }
        if (typeof v === 'string') {
          if (!this.field(name, v)) return `invalid ${name} header`;
        } else {
          for (let k = 0; k < v.length; k++) if (!this.field(name, v[k])) return `invalid ${name} header`;
        }
      }
      if (host === undefined) {
        const a = (headers as HeaderMap).get(':authority');
        if (a !== undefined) host = typeof a === 'string' ? a : a[0];
      }
    }
    if (host !== undefined && !isFieldValue(host)) return 'invalid host header';
    let conn: string;
    if (upgrade !== undefined) {
      if (!isFieldValue(upgrade)) return 'invalid upgrade';
      conn = `connection: upgrade\r\nupgrade: ${upgrade}\r\n`;
    } else {
      conn = close || this.wantsClose ? 'connection: close\r\n' : 'connection: keep-alive\r\n';
    }
    const p = this.parts;
    p[0] = `${method} ${path} HTTP/1.1\r\n`;
    p[1] = host !== undefined ? `host: ${host}\r\n` : '';
    p[2] = conn;
    this.len += p[0].length + p[1].length + conn.length;
    return undefined;
  }

  /** The head, then `tail` (the framing line and the empty line, maybe a first chunk size), as one Buffer. */
  bytes(tail: string): Buffer {
    const b = Buffer.allocUnsafe(this.len + tail.length);
    const p = this.parts;
    let o = 0;
    for (let i = 0; i < this.count; i++) o = copyLatin1(b, p[i], o);
    copyLatin1(b, tail, o);
    return b;
  }

  /** The head as text (tests). */
  get head(): string {
    return this.bytes('').toString('latin1');
  }

  /** Adds one "name: value" line (none for a header the client owns); false when invalid. */
  private field(name: string, value: string): boolean {
    switch (name) {
      case 'content-length': {
        if (this.declaredLength >= 0 || !/^\d{1,15}$/.test(value)) return false;
        this.declaredLength = Number(value);
        return true;
      }
      case 'connection':
        if (!isFieldValue(value)) return false;
        for (const t of value.split(',')) if (t.trim().toLowerCase() === 'close') this.wantsClose = true;
        return true;
      case 'transfer-encoding':
      case 'keep-alive':
      case 'upgrade':
        return true;
    }
    if (!isToken(name) || !isHeaderValue(name, value)) return false;
    const p = this.parts;
    p[this.count++] = name;
    p[this.count++] = ': ';
    p[this.count++] = value;
    p[this.count++] = '\r\n';
    this.len += name.length + value.length + 4;
    return true;
  }
}

/** origin-form, absolute-form or "*": no spaces or controls (latin1 bytes above 0x7f pass, as undici let them). */
function isRequestTarget(p: string): boolean {
  if (p.length === 0) return false;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c > 0xff) return false;
  }
  return true;
}
