/**
 * Envoy's circuit-breaker retry budget (CircuitBreakers.Thresholds.RetryBudget): instead of a
 * fixed max_retries, the retries that may be in flight at once are `budget_percent` of the
 * requests active and pending on the cluster, and never fewer than `min_retry_concurrency`.
 * So when an upstream fails outright, retries add at most about that share to its load, rather
 * than multiplying it by num_retries (Linkerd's retry budget makes the same promise).
 */
import type { EnvoyJson } from '../../xds/types.ts';

/** Envoy's defaults when retry_budget is present with its fields unset. */
export const DEFAULT_BUDGET_PERCENT = 20;
export const DEFAULT_MIN_RETRY_CONCURRENCY = 3;

export class RetryBudget {
  constructor(
    /** Share of active + pending requests that may be retries in flight, 0..100. */
    readonly percent: number,
    readonly minRetryConcurrency: number,
  ) {}

  /** From Envoy JSON: budget_percent is a Percent message ({ value }), min_retry_concurrency a UInt32Value. */
  static from(json: EnvoyJson): RetryBudget {
    const p = json.budget_percent;
    const percent = p === undefined ? DEFAULT_BUDGET_PERCENT : Number(typeof p === 'object' ? (p.value ?? 0) : p);
    const min = json.min_retry_concurrency === undefined ? DEFAULT_MIN_RETRY_CONCURRENCY : Number(json.min_retry_concurrency);
    return new RetryBudget(percent, min);
  }

  /** Retries allowed in flight with `outstanding` requests active and pending (Envoy truncates the share). */
  max(outstanding: number): number {
    return Math.max(Math.floor((this.percent / 100) * outstanding), this.minRetryConcurrency);
  }
}
