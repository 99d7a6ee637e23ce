/**
 * The request head as one latin1 string: request line, Host first, the Connection line, then
 * the router's headers in its order, each name and value checked (tokens; no CR, LF or other
 * controls, so no header injection reaches the wire). The framing line (content-length or
 * transfer-encoding) is left to the writer, which knows the body. Headers the client owns are
 * taken out of the list: host, content-length (read as the declared length), connection
 * ("close" honoured), transfer-encoding, keep-alive, upgrade.
 */
import type { HeaderMap } from '../../interfaces.ts';
import { isFieldValue, isHeaderValue, isToken } from './chars.ts';

/** Methods whose requests carry a body by definition: an empty one is sent as content-length: 0 (as undici does). */
export function expectsPayload(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'QUERY' || method === 'PROPFIND' || method === 'PROPPATCH';
}

/** Reused per connection: the outputs of one `encode`. */
export class RequestEncoder {
  /** The head up to (not including) the framing line and the final CRLF. */
  head = '';
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
    let rest = '';
    if (Array.isArray(headers)) {
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i];
        const value = headers[i + 1];
        if (name === 'host') {
          if (host !== undefined) return 'duplicate host header';
          host = value;
          continue;
        }
        const line = this.field(name, value);
        if (line === undefined) return `invalid ${name} header`;
        rest += line;
      }
    } else if (headers) {
      for (const [name, v] of headers as HeaderMap) {
        if (name.charCodeAt(0) === 58 /* : */) continue;
        if (name === 'host') {
          host = typeof v === 'string' ? v : v[0];
          continue;
        }
        if (typeof v === 'string') {
          const line = this.field(name, v);
          if (line === undefined) return `invalid ${name} header`;
          rest += line;
        } else {
          for (let k = 0; k < v.length; k++) {
            const line = this.field(name, v[k]);
            if (line === undefined) return `invalid ${name} header`;
            rest += line;
          }
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
    this.head = host !== undefined ? `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n${conn}${rest}` : `${method} ${path} HTTP/1.1\r\n${conn}${rest}`;
    return undefined;
  }

  /** One "name: value\r\n" line, '' for a header the client owns, undefined when invalid. */
  private field(name: string, value: string): string | undefined {
    switch (name) {
      case 'content-length': {
        if (this.declaredLength >= 0 || !/^\d{1,15}$/.test(value)) return undefined;
        this.declaredLength = Number(value);
        return '';
      }
      case 'connection':
        if (!isFieldValue(value)) return undefined;
        for (const t of value.split(',')) if (t.trim().toLowerCase() === 'close') this.wantsClose = true;
        return '';
      case 'transfer-encoding':
      case 'keep-alive':
      case 'upgrade':
        return '';
    }
    if (!isToken(name) || !isHeaderValue(name, value)) return undefined;
    return `${name}: ${value}\r\n`;
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
