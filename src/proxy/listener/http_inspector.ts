/**
 * envoy.filters.listener.http_inspector: tells plaintext HTTP/1.x from h2c (the HTTP/2 client
 * preface) so filter chains can match application_protocols ["http/1.1"] or ["h2c"].
 */

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const REQUEST_LINE = /^[A-Z]{3,10} [^ \r\n]+ HTTP\/1\.([01])\r?$/;
/** Envoy gives up after this many bytes without a request line. */
export const MAX_HTTP_INSPECT = 8 * 1024;

export type HttpInspectResult = { kind: 'need_more' } | { kind: 'not_http' } | { kind: 'http'; protocol: 'h2c' | 'http/1.1' | 'http/1.0' };

export function inspectHttp(buf: Buffer): HttpInspectResult {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) {
    return buf.length >= H2_PREFACE.length ? { kind: 'http', protocol: 'h2c' } : { kind: 'need_more' };
  }
  // Method must be upper-case letters; anything else is not HTTP/1.x.
  for (let i = 0; i < Math.min(buf.length, 10); i++) {
    const c = buf[i];
    if (c === 0x20) break;
    if (c < 0x41 || c > 0x5a) return { kind: 'not_http' };
  }
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return buf.length >= MAX_HTTP_INSPECT ? { kind: 'not_http' } : { kind: 'need_more' };
  const m = REQUEST_LINE.exec(buf.toString('latin1', 0, nl));
  if (!m) return { kind: 'not_http' };
  return { kind: 'http', protocol: m[1] === '1' ? 'http/1.1' : 'http/1.0' };
}
