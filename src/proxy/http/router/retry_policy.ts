/**
 * Envoy's RetryPolicy, parsed once per route (or virtual host): which outcomes are retriable
 * (retry_on), how many retries, per-try timeouts, back-off, host predicates and the retry
 * priority (previous_priorities).
 */
import type { HeaderMap } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { durationMs } from '../../duration.ts';
import { compileHeaderMatcher } from './route_match.ts';

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
  RetriableHeaders: 1 << 14,
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
  'retriable-headers': RetryOn.RetriableHeaders,
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
  /** host_selection_retry_max_attempts: how many times a host rejected by the predicate is re-picked. */
  hostSelectionMaxAttempts: number;
  /** retriable_headers: a response matching any of these is retried (with retry_on retriable-headers). */
  retriableHeaders: HeaderPredicate[];
  /** retriable_request_headers: when set, only requests matching one of these are retried. */
  retriableRequestHeaders: HeaderPredicate[];
  /**
   * retry_priority envoy.retry_priorities.previous_priorities: its update_frequency, or 0 when
   * the policy has no retry priority.
   */
  priorityUpdateFrequency: number;
}

/** A HeaderMatcher over one header map (retriable_headers, retriable_request_headers). */
export type HeaderPredicate = (headers: HeaderMap) => boolean;

const NO_QUERY = () => new URLSearchParams();

/** Compiles Envoy HeaderMatchers that only look at headers. */
export function compileHeaderPredicates(list: EnvoyJson[] | undefined): HeaderPredicate[] {
  return (list ?? []).map((hm) => {
    const p = compileHeaderMatcher(hm);
    return (headers: HeaderMap) => p({ headers, path: '', query: NO_QUERY, random: Math.random });
  });
}

/** The names x-envoy-retriable-header-names lists, as presence matchers. */
export function headerNamePredicates(value: string): HeaderPredicate[] {
  return value
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean)
    .map((n) => (h: HeaderMap) => h.has(n));
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
    retriableHeaders: compileHeaderPredicates(p.retriable_headers),
    retriableRequestHeaders: compileHeaderPredicates(p.retriable_request_headers),
    priorityUpdateFrequency: compileRetryPriority(p.retry_priority),
  };
}

/** previous_priorities' update_frequency (must be > 0, as Envoy validates); 0 without retry_priority. */
function compileRetryPriority(rp: EnvoyJson | undefined): number {
  if (!rp) return 0;
  const type = String(rp.typed_config?.['@type'] ?? '');
  if (rp.name !== 'envoy.retry_priorities.previous_priorities' && !type.endsWith('PreviousPrioritiesConfig')) {
    throw new Error(`retry_priority ${rp.name ?? type}: only envoy.retry_priorities.previous_priorities is supported`);
  }
  const f = Number(rp.typed_config?.update_frequency ?? 0);
  if (!Number.isInteger(f) || f <= 0) throw new Error('retry_priority previous_priorities: update_frequency must be > 0');
  return f;
}
