/**
 * The head of an HTTP/1.1 response (status line and header fields), parsed strictly from a
 * buffer that holds it whole: HTTP/1.0 or HTTP/1.1 only, a three-digit status, CRLF line ends,
 * token names with the colon right after them, no obs-fold, no control characters in values,
 * at most one Content-Length (digits only). Fields go straight into a HeaderMap (lower-case
 * names, repeats kept as arrays) without hop-by-hop ones; the framing fields are read on the way.
 */
import type { HeaderMap } from '../../interfaces.ts';
import { FIELD_VALUE, TCHAR } from '../../http/http1/tokens.ts';
import { parseError, type Http1Error } from './errors.ts';
import { headerName } from './header_names.ts';
import { latin1 } from './latin1.ts';
import { HOP_BY_HOP } from '../../http/common/header_utils.ts';

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

/** What a parsed head says about framing and the connection; one per connection, reset per head. */
export class ResponseHead {
  status = 0;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor = 1;
  headers: HeaderMap = new Map();
  /** -1: no Content-Length. */
  contentLength = -1;
  /** Transfer-Encoding was present. */
  te = false;
  /** Its final coding is chunked. */
  chunked = false;
  connClose = false;
  connKeepAlive = false;
  /** Keep-Alive: timeout=N (seconds), -1 when absent. */
  keepAliveTimeoutS = -1;

  reset(): void {
    this.status = 0;
    this.minor = 1;
    this.headers = new Map();
    this.contentLength = -1;
    this.te = this.chunked = this.connClose = this.connKeepAlive = false;
    this.keepAliveTimeoutS = -1;
  }
}

/**
 * Parses buf[start, end) where `end` is just past the CRLF that ends the last header line (the
 * empty line is not included). Upgrade/Connection are kept for a 101. Returns an error, or undefined.
 */
export function parseResponseHead(buf: Buffer, start: number, end: number, out: ResponseHead): Http1Error | undefined {
  out.reset();
  let p = start;
  // "HTTP/1.x SP DDD"
  if (
    end - p < 14 ||
    buf[p] !== 0x48 ||
    buf[p + 1] !== 0x54 ||
    buf[p + 2] !== 0x54 ||
    buf[p + 3] !== 0x50 ||
    buf[p + 4] !== 0x2f ||
    buf[p + 5] !== 0x31 ||
    buf[p + 6] !== 0x2e
  ) {
    return parseError('HPE_INVALID_CONSTANT', 'expected HTTP/1.x');
  }
  const minor = buf[p + 7] - 0x30;
  if (minor !== 0 && minor !== 1) return parseError('HPE_INVALID_VERSION', 'unsupported HTTP version');
  out.minor = minor;
  if (buf[p + 8] !== SP) return parseError('HPE_INVALID_CONSTANT', 'expected space after version');
  const d0 = buf[p + 9] - 0x30;
  const d1 = buf[p + 10] - 0x30;
  const d2 = buf[p + 11] - 0x30;
  if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return parseError('HPE_INVALID_STATUS', 'invalid status code');
  const status = (out.status = d0 * 100 + d1 * 10 + d2);
  p += 12;
  if (buf[p] === SP) {
    // Reason phrase: HTAB / SP / VCHAR / obs-text.
    p++;
    while (buf[p] !== CR) {
      if (FIELD_VALUE[buf[p]] === 0) return parseError('HPE_INVALID_STATUS', 'invalid reason phrase');
      p++;
    }
  } else if (buf[p] !== CR) {
    return parseError('HPE_INVALID_STATUS', 'invalid status line');
  }
  if (buf[p + 1] !== LF) return parseError('HPE_STRICT', 'expected LF after CR');
  p += 2;
  const err = parseFields(buf, p, end, out, out.headers, status === 101);
  if (err !== undefined) return err;
  if (out.te && out.contentLength >= 0) return parseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'both Content-Length and Transfer-Encoding');
  return undefined;
}

/**
 * Field lines in buf[p, end) (each ending with CRLF) into `h`. With `head`, framing fields are
 * read into it; without (trailers), hop-by-hop names are dropped like any other place does.
 */
function parseFields(buf: Buffer, p: number, end: number, head: ResponseHead | undefined, h: HeaderMap, keepUpgrade: boolean): Http1Error | undefined {
  while (p < end) {
    const ns = p;
    let c = buf[p];
    if (c === SP || c === HTAB) return parseError('HPE_INVALID_HEADER_TOKEN', 'obsolete line folding');
    let upper = false;
    while (c !== COLON) {
      if (TCHAR[c] === 0) return parseError('HPE_INVALID_HEADER_TOKEN', 'invalid header name character');
      if (c <= 0x5a && c >= 0x41) upper = true;
      c = buf[++p];
      if (p >= end) return parseError('HPE_INVALID_HEADER_TOKEN', 'header line without a colon');
    }
    if (p === ns) return parseError('HPE_INVALID_HEADER_TOKEN', 'empty header name');
    const ne = p++;
    while ((c = buf[p]) === SP || c === HTAB) p++;
    const vs = p;
    while (c !== CR) {
      if (FIELD_VALUE[c] === 0) return parseError('HPE_INVALID_HEADER_VALUE_CHAR', 'invalid header value character');
      c = buf[++p];
    }
    if (buf[p + 1] !== LF) return parseError('HPE_STRICT', 'expected LF after CR');
    let ve = p;
    while (ve > vs && ((c = buf[ve - 1]) === SP || c === HTAB)) ve--;
    p += 2;
    const name = headerName(buf, ns, ne, upper);
    const value = latin1(buf, vs, ve);
    if (head !== undefined) {
      const err = addField(head, h, name, value, keepUpgrade);
      if (err !== undefined) return err;
    } else if (!HOP_BY_HOP.has(name)) {
      append(h, name, value);
    }
  }
  return undefined;
}

/** A trailer section's field lines, buf[start, end) (each ending with CRLF), into `h`. */
export function parseTrailers(buf: Buffer, start: number, end: number, h: HeaderMap): Http1Error | undefined {
  return parseFields(buf, start, end, undefined, h, false);
}

function append(h: HeaderMap, name: string, value: string): void {
  const cur = h.get(name);
  if (cur === undefined) h.set(name, value);
  else if (typeof cur === 'string') h.set(name, [cur, value]);
  else cur.push(value);
}

function addField(out: ResponseHead, h: HeaderMap, name: string, value: string, keepUpgrade: boolean): Http1Error | undefined {
  switch (name) {
    case 'content-length': {
      if (out.contentLength >= 0) return parseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'duplicate Content-Length');
      const n = contentLength(value);
      if (n < 0) return parseError('HPE_INVALID_CONTENT_LENGTH', 'invalid Content-Length');
      out.contentLength = n;
      break; // forwarded: the body is passed as it came
    }
    case 'transfer-encoding': {
      // Codings accumulate over repeated fields; chunked must be the final one and only once.
      if (out.chunked) return parseError('HPE_INVALID_TRANSFER_ENCODING', 'chunked is not the final coding');
      out.te = true;
      const codings = value.split(',');
      for (let i = 0; i < codings.length; i++) {
        const t = codings[i].trim().toLowerCase();
        if (t === '') return parseError('HPE_INVALID_TRANSFER_ENCODING', 'empty transfer coding');
        if (t === 'chunked') {
          if (i !== codings.length - 1) return parseError('HPE_INVALID_TRANSFER_ENCODING', 'chunked is not the final coding');
          out.chunked = true;
        }
      }
      return undefined;
    }
    case 'connection': {
      // Almost always one token ("keep-alive", "close"): no list to split then.
      if (value.indexOf(',') < 0) connectionToken(out, value.trim().toLowerCase());
      else for (const tok of value.split(',')) connectionToken(out, tok.trim().toLowerCase());
      if (!keepUpgrade) return undefined;
      break;
    }
    case 'keep-alive': {
      const m = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(value);
      if (m) out.keepAliveTimeoutS = Number(m[1]);
      return undefined;
    }
    case 'upgrade':
      if (!keepUpgrade) return undefined;
      break;
    case 'proxy-connection':
    case 'http2-settings':
      return undefined;
  }
  append(h, name, value);
  return undefined;
}

function connectionToken(out: ResponseHead, t: string): void {
  if (t === 'close') out.connClose = true;
  else if (t === 'keep-alive') out.connKeepAlive = true;
}

/** Digits only (no sign, no list, no spaces); -1 when invalid or beyond 2^53. */
function contentLength(v: string): number {
  if (v.length === 0 || v.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
