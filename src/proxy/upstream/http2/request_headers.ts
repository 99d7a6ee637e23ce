/**
 * The request head into the client session's HPACK encoder: pseudo-headers first, then the
 * router's header list without the connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2).
 * `host` becomes :authority, as Envoy's HTTP/2 codec does; names are sent in lower case.
 */
import type { HeaderMap } from '../../interfaces.ts';
import type { HpackEncoder } from '../../http/http2/hpack.ts';
import { HOP_BY_HOP } from '../../http/common/header_utils.ts';


export function encodeRequestHead(enc: HpackEncoder, method: string, path: string, scheme: string, headers: readonly string[] | HeaderMap | null | undefined): void {
  enc.begin();
  enc.field(':method', method);
  // CONNECT carries only :method and :authority (RFC 9113 8.5).
  if (method !== 'CONNECT') {
    enc.field(':scheme', scheme);
    enc.field(':path', path);
  }
  if (headers == null) return;
  if (headers instanceof Map) {
    const host = headers.get('host');
    if (host !== undefined) enc.field(':authority', typeof host === 'string' ? host : host[host.length - 1]!);
    for (const [k, v] of headers) {
      if (typeof v === 'string') add(enc, k, v);
      else for (const x of v) add(enc, k, x);
    }
    return;
  }
  let host: string | undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i]!.toLowerCase() === 'host') host = headers[i + 1]!;
  if (host !== undefined) enc.field(':authority', host);
  for (let i = 0; i + 1 < headers.length; i += 2) add(enc, headers[i]!, headers[i + 1]!);
}

function add(enc: HpackEncoder, name: string, value: string): void {
  if (name.charCodeAt(0) === 58 /* : */) return;
  const k = hasUpper(name) ? name.toLowerCase() : name;
  // host went out as :authority.
  if (k === 'host' || HOP_BY_HOP.has(k)) return;
  // te is allowed only as "trailers" (gRPC needs it end to end).
  if (k === 'te' && value !== 'trailers') return;
  enc.field(k, value);
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}
