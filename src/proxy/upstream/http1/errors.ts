/**
 * Errors of the HTTP/1.1 upstream client, with stable codes: parse errors carry llhttp's HPE_*
 * names (the router maps them to the 'protocol error' reset reason), socket errors keep node's
 * code (ECONNRESET, ECONNREFUSED...). `reason` is Envoy's reset reason the failure maps to.
 */

/**
 * Envoy's upstream reset reasons the upstream pools report (a subset of the router's ResetReason);
 * the two stream resets come from the HTTP/2 pool only; 'overflow' is a request the pool refused
 * because the cluster's pending queue was full (max_pending_requests).
 */
export type Http1ResetReason = 'connection failure' | 'connection termination' | 'protocol error' | 'local reset' | 'remote reset' | 'remote refused stream reset' | 'overflow';

export class Http1Error extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** A response that breaks HTTP/1.1 framing or syntax (strict, as llhttp in strict mode). */
export function parseError(code: string, message: string): Http1Error {
  return new Http1Error(`upstream response parse error: ${message}`, code);
}

export const CONNECT_TIMEOUT = 'UND_ERR_CONNECT_TIMEOUT';

/** A request refused because the cluster's pending queue is full (reset reason 'overflow'). */
export function pendingOverflowError(): Http1Error {
  return new Http1Error('upstream pending request queue is full (circuit breaker max_pending_requests)', 'UND_ERR_PENDING_OVERFLOW');
}
