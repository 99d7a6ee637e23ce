/**
 * The raw HTTP authorization service (Envoy's RawHttpClientImpl): the check is the client's
 * request — same method, path_prefix + path, the allowed headers (always authorization, :method,
 * :path and :authority), headers_to_add, the buffered body under with_request_body (else none,
 * content-length 0) — sent to
 * http_service.server_uri.cluster. 200 allows, and the allowed_upstream_headers* of the answer
 * go upstream, allowed_client_headers_on_success to the client; a 5xx or no answer is an error;
 * any other status denies with that status, the answer's body and its allowed_client_headers.
 */
import type { Clock, ClusterManager, HeaderMap } from '../../../interfaces.ts';
import type { HttpServiceConfig } from './config.ts';
import type { Collected } from './collect.ts';
import { dispatchCheck } from './dispatch.ts';
import { errorResponse, type AuthzResponse, type CheckCall } from './response.ts';

/** The answer's list of request headers to drop upstream (Envoy's x-envoy-auth-headers-to-remove). */
const HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';

function first(v: string | string[]): string {
  return Array.isArray(v) ? (v[0] ?? '') : v;
}

/** The check request's head: method, path and a flat header list starting with host. */
export function checkRequestHead(cfg: HttpServiceConfig, h: HeaderMap, bodyLength = 0): { method: string; path: string; headers: string[] } {
  let method = 'GET';
  let path = '/';
  let authority = '';
  const rest: string[] = [];
  for (const [k, v] of h) {
    if (k === ':method') method = first(v);
    else if (k === ':path') path = first(v);
    else if (k === ':authority' || k === 'host') authority = first(v);
    else if (k.charCodeAt(0) === 58 /* : */ || k === 'content-length') continue;
    else if (cfg.allowedHeaders(k)) for (const x of Array.isArray(v) ? v : [v]) rest.push(k, x);
  }
  // headers_to_add overwrite what the client sent (Envoy's OVERWRITE_IF_EXISTS_OR_ADD).
  for (const [k, v] of cfg.headersToAdd) {
    for (let i = rest.length - 2; i >= 0; i -= 2) if (rest[i] === k) rest.splice(i, 2);
    if (k === 'host' || k === ':authority') authority = v;
    else rest.push(k, v);
  }
  return { method, path: cfg.pathPrefix + path, headers: ['host', authority, 'content-length', String(bodyLength), ...rest] };
}

export function toResponse(cfg: HttpServiceConfig, r: Collected | undefined): AuthzResponse {
  if (!r || r.status >= 500 || r.status < 100) return errorResponse();
  const out = errorResponse();
  if (r.status === 200) {
    out.status = 'ok';
    out.statusCode = 200;
    for (const [k, v] of r.headers) {
      if (k === HEADERS_TO_REMOVE) {
        for (const x of Array.isArray(v) ? v : [v]) out.headersToRemove.push(...x.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
        continue;
      }
      for (const x of Array.isArray(v) ? v : [v]) {
        if (cfg.upstream(k)) out.headersToSet.push([k, x]);
        if (cfg.upstreamAppend(k)) out.headersToAppend.push([k, x]);
        if (cfg.clientOnSuccess(k)) out.responseHeadersToAdd.push([k, x]);
      }
    }
    return out;
  }
  out.status = 'denied';
  out.statusCode = r.status;
  out.body = r.body.toString('utf8');
  for (const [k, v] of r.headers) {
    if (k === HEADERS_TO_REMOVE || k === 'content-length' || !cfg.client(k)) continue;
    for (const x of Array.isArray(v) ? v : [v]) out.headersToSet.push([k, x]);
  }
  return out;
}

export function checkHttp(cfg: HttpServiceConfig, cm: ClusterManager, clock: Clock, h: HeaderMap, body: Buffer | undefined, done: (r: AuthzResponse) => void): CheckCall {
  const head = checkRequestHead(cfg, h, body?.length ?? 0);
  return dispatchCheck(cm, clock, cfg.cluster, head.headers[1] ?? '', { ...head, body: body && body.length > 0 ? body : null }, cfg.timeoutMs, (r) => done(toResponse(cfg, r)));
}
