/**
 * The request head as node:http2 takes it: pseudo-headers first, then the router's flat header
 * list, without the connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2; node throws on
 * them). `host` becomes :authority, as Envoy's HTTP/2 codec does.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import type { HeaderMap } from '../../interfaces.ts';

const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** The header object for `session.request()`. A null-prototype object: a `__proto__` header stays a header. */
export function h2RequestHeaders(method: string, path: string, scheme: string, headers: readonly string[] | HeaderMap | null | undefined): OutgoingHttpHeaders {
  const o = Object.create(null) as OutgoingHttpHeaders;
  o[':method'] = method;
  // CONNECT carries only :method and :authority (RFC 9113 8.5).
  if (method !== 'CONNECT') {
    o[':scheme'] = scheme;
    o[':path'] = path;
  }
  if (headers == null) return o;
  if (headers instanceof Map) {
    for (const [k, v] of headers) add(o, k, v);
  } else {
    for (let i = 0; i + 1 < headers.length; i += 2) add(o, headers[i], headers[i + 1]);
  }
  return o;
}

function add(o: OutgoingHttpHeaders, name: string, value: string | string[]): void {
  let k = name;
  if (k.charCodeAt(0) === 58 /* : */) return;
  if (hasUpper(k)) k = k.toLowerCase();
  if (k === 'host') {
    o[':authority'] = typeof value === 'string' ? value : value[value.length - 1];
    return;
  }
  if (CONNECTION_SPECIFIC.has(k)) return;
  // te is allowed only as "trailers" (gRPC needs it end to end).
  if (k === 'te' && value !== 'trailers') return;
  const prev = o[k];
  if (prev === undefined) o[k] = value;
  else if (Array.isArray(prev)) prev.push(...(typeof value === 'string' ? [value] : value));
  else o[k] = [String(prev), ...(typeof value === 'string' ? [value] : value)];
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}
