/**
 * A header block's decoded fields into a HeaderMap, checked as RFC 9113 8.2–8.3 requires:
 * lower-case token names, no NUL/CR/LF and no surrounding whitespace in values, only the
 * pseudo-headers of a request (or :status for a response), once each and before every regular
 * field, none in trailers, none of the connection-specific fields, and `te` only as "trailers".
 * A violation makes the message malformed (the session resets the stream with PROTOCOL_ERROR, as
 * nghttp2 does). Cookies are joined with "; " so an HTTP/1.1 upstream gets one header (8.2.3).
 */
import type { HeaderMap } from '../../interfaces.ts';
import { HOP_BY_HOP } from '../common/header_utils.ts';

/** tchar (RFC 9110 5.6.2) without upper-case letters. */
const NAME_CHAR = (() => {
  const t = new Uint8Array(256);
  for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") t[c.charCodeAt(0)] = 1;
  return t;
})();
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path']);
const RESPONSE_PSEUDO = new Set([':status']);

function validName(n: string): boolean {
  if (n.length === 0) return false;
  for (let i = 0; i < n.length; i++) if (NAME_CHAR[n.charCodeAt(i)] !== 1) return false;
  return true;
}

function validValue(v: string): boolean {
  const last = v.length - 1;
  if (last >= 0) {
    const a = v.charCodeAt(0);
    const z = v.charCodeAt(last);
    if (a === 0x20 || a === 0x09 || z === 0x20 || z === 0x09) return false;
  }
  for (let i = 0; i <= last; i++) {
    const c = v.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0xff) return false;
  }
  return true;
}

export class FieldBlock {
  readonly headers: HeaderMap = new Map();
  /** Regular fields (the max_headers_count limit). */
  count = 0;
  /** Names and values, for max_request_headers_kb. */
  bytes = 0;
  /** Why the block is malformed; the first reason wins. */
  error: string | undefined;
  /** The declared content-length, -1 when none. */
  contentLength = -1;
  #regular = false;
  readonly #pseudo: Set<string> | undefined;

  constructor(kind: 'request' | 'response' | 'trailers') {
    this.#pseudo = kind === 'request' ? REQUEST_PSEUDO : kind === 'response' ? RESPONSE_PSEUDO : undefined;
  }

  /** The decoder's callback. */
  readonly add = (name: string, value: string): void => {
    this.bytes += name.length + value.length;
    if (this.error) return;
    const h = this.headers;
    if (name.charCodeAt(0) === 58) {
      if (!this.#pseudo || this.#regular) return this.#fail(`pseudo-header ${name} after a regular field or in trailers`);
      if (!this.#pseudo.has(name)) return this.#fail(`pseudo-header ${name} does not belong here`);
      if (h.has(name)) return this.#fail(`pseudo-header ${name} repeated`);
      if (!validValue(value)) return this.#fail(`invalid value for ${name}`);
      h.set(name, value);
      return;
    }
    this.#regular = true;
    this.count++;
    if (!validName(name)) return this.#fail(`invalid field name ${JSON.stringify(name)}`);
    if (!validValue(value)) return this.#fail(`invalid value for ${name}`);
    if (HOP_BY_HOP.has(name)) return this.#fail(`connection-specific field ${name}`);
    if (name === 'te' && value !== 'trailers') return this.#fail('te other than "trailers"');
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value)) return this.#fail('invalid content-length');
      const n = Number(value);
      if (this.contentLength !== -1 && this.contentLength !== n) return this.#fail('conflicting content-length');
      if (this.contentLength === n) return;
      this.contentLength = n;
    }
    const cur = h.get(name);
    if (cur === undefined) h.set(name, value);
    else if (name === 'cookie') h.set(name, `${cur}; ${value}`);
    else if (typeof cur === 'string') h.set(name, [cur, value]);
    else cur.push(value);
  };

  #fail(reason: string): void {
    this.error = reason;
  }

  /**
   * After the block: the request pseudo-headers RFC 9113 8.3.1 requires (CONNECT: :authority only),
   * and :authority from host when absent. Returns the reason it is malformed, or undefined.
   */
  finishRequest(): string | undefined {
    if (this.error) return this.error;
    const h = this.headers;
    const method = h.get(':method');
    if (method === undefined) return 'missing :method';
    if (method === 'CONNECT') {
      if (h.has(':scheme') || h.has(':path')) return 'CONNECT with :scheme or :path';
    } else {
      if (!h.has(':scheme')) return 'missing :scheme';
      const path = h.get(':path');
      if (path === undefined || path === '') return 'missing :path';
    }
    const host = h.get('host');
    if (host !== undefined) {
      if (!h.has(':authority')) h.set(':authority', typeof host === 'string' ? host : host[0]!);
      h.delete('host');
    }
    return undefined;
  }

  /** After a response block: its status (RFC 9113 8.3.2), or undefined when missing or not three digits. */
  status(): number | undefined {
    if (this.error) return undefined;
    const s = this.headers.get(':status');
    if (typeof s !== 'string' || !/^[1-9]\d\d$/.test(s)) return undefined;
    this.headers.delete(':status');
    return Number(s);
  }
}
