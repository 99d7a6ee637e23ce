/**
 * Header map helpers shared by the connection manager, router and filters: building the
 * HeaderMap from codec headers, hop-by-hop stripping for h1<->h2 conversion, and flattening into
 * the forms undici and node's codecs take without extra copies.
 */
import type { HeaderMap } from '../../interfaces.ts';

/**
 * Connection-specific headers never forwarded (RFC 9110 7.6.1, RFC 9113 8.2.2). `te` is handled
 * apart (only "trailers" survives) and `upgrade` is kept for accepted upgrades.
 */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** Single value of a header (first value if repeated). */
export function getHeader(h: HeaderMap, name: string): string | undefined {
  const v = h.get(name);
  return v === undefined ? undefined : typeof v === 'string' ? v : v[0];
}

/** All values joined with "," the way Envoy's header matchers see repeated headers. */
export function getJoined(h: HeaderMap, name: string): string | undefined {
  const v = h.get(name);
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(',');
}

export function appendHeader(h: HeaderMap, name: string, value: string): void {
  const cur = h.get(name);
  if (cur === undefined) h.set(name, value);
  else if (typeof cur === 'string') h.set(name, [cur, value]);
  else cur.push(value);
}

/** Node's rawHeaders ([name, value, ...]) into a HeaderMap; lower-cases names, keeps repeats. */
export function fromRawHeaders(raw: string[], into: HeaderMap): HeaderMap {
  for (let i = 0; i < raw.length; i += 2) appendHeader(into, raw[i].toLowerCase(), raw[i + 1]);
  return into;
}

/** undici's parsed headers object (lower-case keys) into a HeaderMap, without hop-by-hop headers. */
export function fromUpstreamHeaders(obj: Record<string, string | string[] | undefined>, keepUpgrade: boolean): HeaderMap {
  const h: HeaderMap = new Map();
  for (const k in obj) {
    const v = obj[k];
    if (v === undefined) continue;
    if (HOP_BY_HOP.has(k) && !(keepUpgrade && (k === 'upgrade' || k === 'connection'))) continue;
    h.set(k, v);
  }
  return h;
}

/**
 * undici's raw header forms straight into a HeaderMap (lower-case names, repeats kept, hop-by-hop
 * dropped unless `keepUpgrade` keeps upgrade/connection): a flat [name, value, ...] list of
 * Buffers (h1 heads and trailers) or strings, or a plain object (h2 trailers). One pass, no
 * intermediate object: this runs for every response.
 */
export function rawHeadersToMap(raw: Buffer[] | string[] | Record<string, string | string[]> | null | undefined, keepUpgrade: boolean): HeaderMap {
  const h: HeaderMap = new Map();
  if (!raw) return h;
  if (!Array.isArray(raw)) {
    for (const k0 in raw) {
      if (k0.charCodeAt(0) === 58 /* : */) continue;
      const k = k0.toLowerCase();
      if (HOP_BY_HOP.has(k) && !(keepUpgrade && (k === 'upgrade' || k === 'connection'))) continue;
      h.set(k, raw[k0]);
    }
    return h;
  }
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    const v = raw[i + 1];
    const k = (typeof n === 'string' ? n : n.toString('latin1')).toLowerCase();
    if (HOP_BY_HOP.has(k) && !(keepUpgrade && (k === 'upgrade' || k === 'connection'))) continue;
    appendHeader(h, k, typeof v === 'string' ? v : v.toString('latin1'));
  }
  return h;
}

/**
 * Removes hop-by-hop request headers, including those named by Connection, and `te` unless it
 * is "trailers" (gRPC needs that one end to end).
 */
export function stripHopByHop(h: HeaderMap, keepUpgrade: boolean): void {
  const conn = getJoined(h, 'connection');
  if (conn !== undefined) {
    for (const tok of conn.split(',')) {
      const t = tok.trim().toLowerCase();
      if (t && t !== 'upgrade' && !t.startsWith(':')) h.delete(t);
    }
  }
  for (const name of HOP_BY_HOP) {
    if (keepUpgrade && (name === 'upgrade' || name === 'connection')) continue;
    h.delete(name);
  }
  const te = getJoined(h, 'te');
  if (te !== undefined) {
    if (te.split(',').some((t) => t.trim().toLowerCase() === 'trailers')) h.set('te', 'trailers');
    else h.delete('te');
  }
}

/** HeaderMap to a flat [name, value, ...] list without pseudo-headers (undici, node h1 writeHead). */
export function toFlatList(h: HeaderMap, skip?: Set<string>): string[] {
  const out: string[] = [];
  // forEach with the list as `this`: for..of would make an entry array per header.
  if (skip === undefined) h.forEach(addFlat, out);
  else
    h.forEach((v, k) => {
      if (!skip.has(k)) addFlat.call(out, v, k);
    });
  return out;
}

function addFlat(this: string[], v: string | string[], k: string): void {
  if (k.charCodeAt(0) === 58 /* : */) return;
  if (typeof v === 'string') this.push(k, v);
  else for (let i = 0; i < v.length; i++) this.push(k, v[i]);
}

/** HeaderMap to node's header object (h2 respond / sendTrailers), without pseudo-headers. */
export function toObject(h: HeaderMap, skip?: Set<string>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of h) {
    if (k.charCodeAt(0) === 58 || (skip !== undefined && skip.has(k))) continue;
    out[k] = v;
  }
  return out;
}

/** "1.2.3.4:80" -> "1.2.3.4"; "[::1]:80" -> "::1"; no port -> unchanged. */
export function stripPort(hostport: string): string {
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    return end > 0 ? hostport.slice(1, end) : hostport;
  }
  const i = hostport.lastIndexOf(':');
  return i > 0 && hostport.indexOf(':') === i ? hostport.slice(0, i) : hostport;
}

/** The port part of an authority, or undefined. */
export function authorityPort(authority: string): string | undefined {
  const i = authority.lastIndexOf(':');
  if (i < 0) return undefined;
  if (authority.startsWith('[') && authority.lastIndexOf(']') > i) return undefined;
  if (!authority.startsWith('[') && authority.indexOf(':') !== i) return undefined;
  const p = authority.slice(i + 1);
  return /^\d+$/.test(p) ? p : undefined;
}

export function isGrpcRequest(h: HeaderMap): boolean {
  const ct = getHeader(h, 'content-type');
  return ct !== undefined && ct.startsWith('application/grpc');
}
