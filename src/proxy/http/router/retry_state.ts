/**
 * Envoy's RetryStateImpl for one request: which upstream outcomes are retried (retry_on bits,
 * including the x-envoy-retry-on / x-envoy-retry-grpc-on / x-envoy-max-retries /
 * x-envoy-retriable-status-codes / x-envoy-retriable-header-names headers, which the connection
 * manager strips from untrusted clients), how many retries remain, and the jittered exponential
 * back-off (base 25 ms, cap 10x).
 */
import type { HeaderMap } from '../../interfaces.ts';
import { getHeader } from '../common/header_utils.ts';
import type { Random } from '../common/random.ts';
import { headerNamePredicates, parseRetryOn, RetryOn, type HeaderPredicate, type RetryPolicy } from './retry_policy.ts';

/** Envoy's upstream reset reasons, as they appear in local reply bodies. */
export type ResetReason =
  | 'connection failure'
  | 'connection termination'
  | 'remote reset'
  | 'remote refused stream reset'
  | 'local reset'
  | 'overflow'
  | 'protocol error'
  | 'per try timeout';

const GRPC_BITS: [number, number][] = [
  [1, RetryOn.GrpcCancelled],
  [4, RetryOn.GrpcDeadlineExceeded],
  [8, RetryOn.GrpcResourceExhausted],
  [13, RetryOn.GrpcInternal],
  [14, RetryOn.GrpcUnavailable],
];

const NO_CODES: ReadonlySet<number> = new Set();

export class RetryState {
  private retryOn: number;
  private remaining: number;
  private retriesDone = 0;
  readonly policy: RetryPolicy | undefined;
  private statusCodes: ReadonlySet<number>;
  private retriableHeaders: HeaderPredicate[];

  constructor(policy: RetryPolicy | undefined, headers: HeaderMap) {
    this.policy = policy;
    this.retryOn = policy?.retryOn ?? 0;
    this.remaining = policy ? policy.numRetries : 1;
    this.statusCodes = policy?.retriableStatusCodes ?? NO_CODES;
    this.retriableHeaders = policy?.retriableHeaders ?? [];
    const on = getHeader(headers, 'x-envoy-retry-on');
    const grpcOn = getHeader(headers, 'x-envoy-retry-grpc-on');
    if (on) this.retryOn |= parseRetryOn(on);
    if (grpcOn) this.retryOn |= parseRetryOn(grpcOn);
    const max = getHeader(headers, 'x-envoy-max-retries');
    if (max !== undefined && /^\d+$/.test(max)) this.remaining = Number(max);
    const codes = getHeader(headers, 'x-envoy-retriable-status-codes');
    if (codes) this.statusCodes = new Set([...this.statusCodes, ...codes.split(',').map((c) => Number(c.trim())).filter((c) => c >= 100 && c <= 599)]);
    const names = getHeader(headers, 'x-envoy-retriable-header-names');
    if (names) this.retriableHeaders = [...this.retriableHeaders, ...headerNamePredicates(names)];
    // retriable_request_headers: a request matching none of them is never retried.
    const only = policy?.retriableRequestHeaders ?? [];
    if (only.length > 0 && !only.some((m) => m(headers))) this.retryOn = 0;
    if (this.retryOn === 0) this.remaining = 0;
  }

  get enabled(): boolean {
    return this.retryOn !== 0;
  }

  get retries(): number {
    return this.retriesDone;
  }

  /** Would this upstream response be retried (ignoring the remaining count)? */
  retriableResponse(status: number, grpcStatus: number | undefined, headers?: HeaderMap): boolean {
    const on = this.retryOn;
    if (on === 0) return false;
    // As Envoy: an upstream proxy that shed load is not asked again.
    if (headers?.has('x-envoy-overloaded')) return false;
    if (on & RetryOn.R5xx && status >= 500) return true;
    if (on & RetryOn.GatewayError && (status === 502 || status === 503 || status === 504)) return true;
    if (on & RetryOn.Retriable4xx && status === 409) return true;
    if (on & RetryOn.RetriableStatusCodes && this.statusCodes.has(status)) return true;
    if (on & RetryOn.RetriableHeaders && headers && this.retriableHeaders.some((m) => m(headers))) return true;
    if (grpcStatus !== undefined) for (const [code, bit] of GRPC_BITS) if (grpcStatus === code && on & bit) return true;
    return false;
  }

  /** Would this reset (no response headers seen) be retried? */
  retriableReset(reason: ResetReason): boolean {
    const on = this.retryOn;
    if (on === 0) return false;
    if (on & (RetryOn.R5xx | RetryOn.GatewayError | RetryOn.Reset)) return reason !== 'overflow';
    if (on & RetryOn.ConnectFailure && reason === 'connection failure') return true;
    if (on & RetryOn.RefusedStream && reason === 'remote refused stream reset') return true;
    if (on & RetryOn.ResetBeforeRequest && reason === 'connection failure') return true;
    return false;
  }

  /** Consumes one retry if any remain. */
  take(): boolean {
    if (this.remaining <= 0) return false;
    this.remaining--;
    this.retriesDone++;
    return true;
  }

  /** Jittered back-off before retry number `retriesDone`: random in [0, (2^n - 1) * base], capped. */
  backoffMs(random: Random): number {
    const base = this.policy?.baseIntervalMs ?? 25;
    const max = this.policy?.maxIntervalMs ?? base * 10;
    const ceiling = Math.min(max, (2 ** Math.min(this.retriesDone, 30) - 1) * base);
    return Math.floor(random() * ceiling);
  }
}
