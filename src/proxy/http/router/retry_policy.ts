/**
 * Envoy's RetryPolicy, parsed once per route (or virtual host): which outcomes are retriable
 * (retry_on), how many retries, per-try timeout, back-off and host predicates.
 */
import type { EnvoyJson } from '../../../xds/types.ts';
import { durationMs } from '../../duration.ts';

export const RetryOn = {
  R5xx: 1 << 0,
  GatewayError: 1 << 1,
  Reset: 1 << 2,
  ConnectFailure: 1 << 3,
  Retriable4xx: 1 << 4,
  RefusedStream: 1 << 5,
  RetriableStatusCodes: 1 << 6,
  GrpcCancelled: 1 << 7,
  GrpcDeadlineExceeded: 1 << 8,
  GrpcResourceExhausted: 1 << 9,
  GrpcUnavailable: 1 << 10,
  GrpcInternal: 1 << 11,
  Http3PostConnectFailure: 1 << 12,
  ResetBeforeRequest: 1 << 13,
} as const;

const NAMES: Record<string, number> = {
  '5xx': RetryOn.R5xx,
  'gateway-error': RetryOn.GatewayError,
  reset: RetryOn.Reset,
  'reset-before-request': RetryOn.ResetBeforeRequest,
  'connect-failure': RetryOn.ConnectFailure,
  'retriable-4xx': RetryOn.Retriable4xx,
  'refused-stream': RetryOn.RefusedStream,
  'retriable-status-codes': RetryOn.RetriableStatusCodes,
  cancelled: RetryOn.GrpcCancelled,
  'deadline-exceeded': RetryOn.GrpcDeadlineExceeded,
  'resource-exhausted': RetryOn.GrpcResourceExhausted,
  unavailable: RetryOn.GrpcUnavailable,
  internal: RetryOn.GrpcInternal,
  'http3-post-connect-failure': RetryOn.Http3PostConnectFailure,
};

export interface RetryPolicy {
  retryOn: number;
  numRetries: number;
  perTryTimeoutMs: number;
  perTryIdleTimeoutMs: number;
  baseIntervalMs: number;
  maxIntervalMs: number;
  retriableStatusCodes: Set<number>;
  /** retry_host_predicate previous_hosts: avoid hosts already tried. */
  previousHosts: boolean;
  hostSelectionMaxAttempts: number;
}

/** Parses a comma-separated retry_on list (also used for x-envoy-retry-on / x-envoy-retry-grpc-on). */
export function parseRetryOn(s: string | undefined): number {
  let bits = 0;
  for (const tok of (s ?? '').split(',')) {
    const t = tok.trim();
    if (t && NAMES[t] !== undefined) bits |= NAMES[t];
  }
  return bits;
}

export function compileRetryPolicy(p: EnvoyJson | undefined): RetryPolicy | undefined {
  if (!p) return undefined;
  const base = durationMs(p.retry_back_off?.base_interval) ?? 25;
  if (base <= 0) throw new Error('retry_back_off.base_interval must be > 0');
  const max = durationMs(p.retry_back_off?.max_interval) ?? base * 10;
  if (max < base) throw new Error('retry_back_off.max_interval must be >= base_interval');
  const preds: EnvoyJson[] = p.retry_host_predicate ?? [];
  return {
    retryOn: parseRetryOn(p.retry_on),
    // num_retries is a UInt32Value: absent means Envoy's default of 1.
    numRetries: p.num_retries === undefined ? 1 : Number(p.num_retries),
    perTryTimeoutMs: durationMs(p.per_try_timeout) ?? 0,
    perTryIdleTimeoutMs: durationMs(p.per_try_idle_timeout) ?? 0,
    baseIntervalMs: base,
    maxIntervalMs: max,
    retriableStatusCodes: new Set<number>((p.retriable_status_codes ?? []).map(Number)),
    previousHosts: preds.some((x) => x.name === 'envoy.retry_host_predicates.previous_hosts' || String(x.typed_config?.['@type'] ?? '').endsWith('PreviousHostsPredicate')),
    hostSelectionMaxAttempts: Number(p.host_selection_retry_max_attempts ?? 1),
  };
}
