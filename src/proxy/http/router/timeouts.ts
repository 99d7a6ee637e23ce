/**
 * The router's timeout arithmetic, as Envoy's FilterUtility::finalTimeout: route timeout (15 s
 * default, 0 disables), grpc-timeout capped by max_grpc_timeout (absent: ignored), the trusted
 * x-envoy-upstream-rq-timeout-ms / -per-try-timeout-ms overrides, and the per-try timeout that
 * only counts when shorter than the global one.
 */
import type { HeaderMap } from '../../interfaces.ts';
import { getHeader } from '../common/header_utils.ts';
import type { RouteAction } from './route_entry.ts';

export interface Timeouts {
  /** 0 = none. Starts when the downstream request is complete. */
  globalMs: number;
  /** 0 = none. */
  perTryMs: number;
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Parses a grpc-timeout header ("100m", "5S"); undefined when absent or malformed. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  return Math.ceil(Number(m[1]) * UNIT_MS[m[2]]);
}

export function computeTimeouts(action: RouteAction, headers: HeaderMap, grpc: boolean, perTryFromPolicy: number): Timeouts {
  let globalMs = action.timeoutMs;
  if (grpc && action.maxGrpcTimeoutMs !== undefined) {
    const hdr = parseGrpcTimeout(getHeader(headers, 'grpc-timeout'));
    const max = action.maxGrpcTimeoutMs;
    let t = hdr ?? 0; // absent header means infinity, as in Envoy
    if (max > 0 && (t === 0 || t > max)) t = max;
    if (t > 0 && action.grpcTimeoutOffsetMs > 0 && t > action.grpcTimeoutOffsetMs) t -= action.grpcTimeoutOffsetMs;
    globalMs = t;
  }
  const hdrGlobal = getHeader(headers, 'x-envoy-upstream-rq-timeout-ms');
  if (hdrGlobal !== undefined && /^\d+$/.test(hdrGlobal)) globalMs = Number(hdrGlobal);
  let perTryMs = perTryFromPolicy;
  const hdrPerTry = getHeader(headers, 'x-envoy-upstream-rq-per-try-timeout-ms');
  if (hdrPerTry !== undefined && /^\d+$/.test(hdrPerTry)) perTryMs = Number(hdrPerTry);
  if (globalMs > 0 && perTryMs >= globalMs) perTryMs = 0;
  headers.delete('x-envoy-upstream-rq-timeout-ms');
  headers.delete('x-envoy-upstream-rq-per-try-timeout-ms');
  return { globalMs, perTryMs };
}
