/**
 * The gRPC authorization service: envoy.service.auth.v3.Authorization/Check, a unary gRPC call
 * made on the proxy's own HTTP/2 pool to a host of grpc_service.envoy_grpc.cluster_name (as
 * Envoy's EnvoyGrpc client does: the cluster's load balancing and mTLS apply), with the gRPC
 * wire format — length-prefixed protobuf from Envoy's protos, grpc-timeout, status in trailers.
 * A CheckResponse whose status is OK allows (ok_response headers go upstream or, for
 * response_headers_to_add, to the client); any other status denies with denied_response (403
 * unless it says otherwise); a failed call (no host, reset, timeout, grpc-status not OK,
 * an undecodable answer) is an error.
 */
import type { Clock, ClusterManager } from '../../../interfaces.ts';
import type { EnvoyJson } from '../../../../xds/types.ts';
import { decodeResource, encodeResource } from '../../../../xds/codec.ts';
import { log } from '../../../logger.ts';
import type { GrpcServiceConfig } from './config.ts';
import { httpStatusCode } from './config.ts';
import type { Collected } from './collect.ts';
import { dispatchCheck } from './dispatch.ts';
import { errorResponse, type AuthzResponse, type CheckCall, type HeaderPairs } from './response.ts';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
const REQUEST = 'envoy.service.auth.v3.CheckRequest';
const RESPONSE = 'envoy.service.auth.v3.CheckResponse';

/** gRPC's length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length, bytes. */
export function frame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
}

/** The one message of a unary response, or undefined when the framing is wrong or compressed. */
export function unframe(body: Buffer): Buffer | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  const n = body.readUInt32BE(1);
  if (body.length !== 5 + n) return undefined;
  return body.subarray(5);
}

function grpcStatus(r: Collected): number | undefined {
  const v = r.trailers?.get('grpc-status') ?? r.headers.get('grpc-status');
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined ? undefined : Number(s);
}

/** HeaderValueOption list split by its append flag (BoolValue: unset means overwrite, as Envoy's check responses do). */
function options(list: EnvoyJson[] | undefined, set: HeaderPairs, append: HeaderPairs): void {
  for (const o of list ?? []) {
    const key = String(o?.header?.key ?? '').toLowerCase();
    if (!key) continue;
    const value = String(o.header.value ?? (o.header.raw_value ? Buffer.from(o.header.raw_value).toString() : ''));
    const appendIt = o.append === true || o.append?.value === true;
    (appendIt ? append : set).push([key, value]);
  }
}

export function toResponse(r: Collected | undefined): AuthzResponse {
  if (!r || r.status !== 200 || grpcStatus(r) !== 0) return errorResponse();
  const bytes = unframe(r.body);
  if (!bytes) return errorResponse();
  let msg: EnvoyJson;
  try {
    msg = decodeResource(RESPONSE, bytes);
  } catch {
    log.warnOnce('ext_authz-grpc-decode', 'ext_authz: a CheckResponse could not be decoded');
    return errorResponse();
  }
  const out = errorResponse();
  const code = Number(msg.status?.code ?? 0);
  if (code === 0) {
    out.status = 'ok';
    out.statusCode = 200;
    const ok = msg.ok_response ?? {};
    options(ok.headers, out.headersToSet, out.headersToAppend);
    out.headersToRemove.push(...((ok.headers_to_remove ?? []) as string[]).map((s) => s.toLowerCase()));
    const resp: HeaderPairs = [];
    options(ok.response_headers_to_add, resp, resp);
    out.responseHeadersToAdd.push(...resp);
    return out;
  }
  out.status = 'denied';
  const denied = msg.denied_response ?? {};
  try {
    out.statusCode = httpStatusCode(denied.status, 403, 'denied_response.status');
  } catch {
    out.statusCode = 403;
  }
  out.body = String(denied.body ?? '');
  const both: HeaderPairs = [];
  options(denied.headers, both, both);
  out.headersToSet.push(...both);
  return out;
}

export function checkGrpc(cfg: GrpcServiceConfig, cm: ClusterManager, clock: Clock, request: EnvoyJson, done: (r: AuthzResponse) => void): CheckCall {
  let body: Buffer;
  try {
    body = frame(encodeResource(REQUEST, request));
  } catch (e) {
    log.warnOnce('ext_authz-grpc-encode', `ext_authz: the CheckRequest could not be encoded: ${(e as Error).message}`);
    let cancelled = false;
    queueMicrotask(() => cancelled || done(errorResponse()));
    return { cancel: () => (cancelled = true) };
  }
  const headers = ['host', cfg.authority, 'content-type', 'application/grpc', 'te', 'trailers', 'grpc-timeout', `${Math.max(1, Math.ceil(cfg.timeoutMs))}m`];
  return dispatchCheck(cm, clock, cfg.cluster, cfg.authority, { method: 'POST', path: CHECK_PATH, headers, body, protocol: 'HTTP/2' }, cfg.timeoutMs, (r) => done(toResponse(r)));
}
