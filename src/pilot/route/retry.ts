/**
 * Retry policy (Istio's networking/core/route/retry): a route without `retries` gets Istio's
 * default policy, `attempts: 0` turns retries off, anything else starts from the default and
 * overrides what is written.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { envoyDurationOf } from '../util.ts';
import type { HTTPRetry } from '../../api/networking.ts';
import { RETRY } from '../../xds/type_urls.ts';

export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';

/**
 * Istio's DefaultPolicy. With consistent hashing the previous_hosts predicate is left out, since
 * it would send retries away from the hashed host (istio/istio#50756).
 */
export function defaultRetryPolicy(consistentHash = false): EnvoyJson {
  const p: EnvoyJson = {
    retry_on: DEFAULT_RETRY_ON,
    num_retries: 2,
    retriable_status_codes: [503],
  };
  if (!consistentHash) {
    p.retry_host_predicate = [
      {
        name: 'envoy.retry_host_predicates.previous_hosts',
        typed_config: { '@type': RETRY.PREVIOUS_HOSTS },
      },
    ];
  }
  p.host_selection_retry_max_attempts = 5;
  return p;
}

/** VirtualService `retries` → Envoy RetryPolicy, or undefined when retries are disabled. */
export function translateRetryPolicy(retries: HTTPRetry | undefined, consistentHash = false): EnvoyJson | undefined {
  if (!retries) return defaultRetryPolicy(consistentHash);
  if (!retries.attempts || retries.attempts <= 0) return undefined;
  const out = defaultRetryPolicy(consistentHash);
  out.num_retries = retries.attempts;
  if (retries.retryOn) {
    const { on, codes } = parseRetryOn(retries.retryOn);
    out.retry_on = on;
    out.retriable_status_codes = codes;
    // Numeric codes only take effect with retriable-status-codes; Istio adds it for the user.
    if (codes.length > 0 && !on.split(',').includes('retriable-status-codes')) {
      out.retry_on = on ? `${on},retriable-status-codes` : 'retriable-status-codes';
    }
    if (codes.length === 0) delete out.retriable_status_codes;
  }
  const perTry = envoyDurationOf(retries.perTryTimeout);
  if (perTry) out.per_try_timeout = perTry;
  // Envoy caps the backoff at 10x its base unless told otherwise, as Istio leaves it.
  const backoff = envoyDurationOf(retries.backoff);
  if (backoff) out.retry_back_off = { base_interval: backoff };
  if (retries.retryRemoteLocalities) {
    // As Istio: two attempts in a priority (locality) before the next ones avoid it.
    out.retry_priority = {
      name: 'envoy.retry_priorities.previous_priorities',
      typed_config: { '@type': RETRY.PREVIOUS_PRIORITIES, update_frequency: 2 },
    };
  }
  // As Istio: set explicitly, it decides the previous_hosts predicate (false drops it).
  if (retries.retryIgnorePreviousHosts === false) delete out.retry_host_predicate;
  else if (retries.retryIgnorePreviousHosts === true && !out.retry_host_predicate) out.retry_host_predicate = defaultRetryPolicy(false).retry_host_predicate;
  return out;
}

/** Splits `retryOn`: numbers that are HTTP status codes become retriable_status_codes. */
export function parseRetryOn(retryOn: string): { on: string; codes: number[] } {
  const on: string[] = [];
  const codes: number[] = [];
  for (const raw of retryOn.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    if (/^\d+$/.test(part) && Number(part) >= 100 && Number(part) <= 599) codes.push(Number(part));
    else on.push(part);
  }
  return { on: on.join(','), codes };
}
