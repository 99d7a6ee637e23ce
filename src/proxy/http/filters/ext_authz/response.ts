/**
 * What one authorization check decided (Envoy's Filters::Common::ExtAuthz::Response), the same
 * shape from the HTTP and the gRPC service, so the filter applies it in one place.
 */
export type CheckStatus = 'ok' | 'denied' | 'error';

export type HeaderPairs = Array<[string, string]>;

export interface AuthzResponse {
  status: CheckStatus;
  /** OK: upstream request headers to replace; denied: the headers of the local reply. */
  headersToSet: HeaderPairs;
  /** OK: upstream request headers to append. */
  headersToAppend: HeaderPairs;
  /** OK: upstream request headers to remove. */
  headersToRemove: string[];
  /** OK: headers added to the response the client gets. */
  responseHeadersToAdd: HeaderPairs;
  /** Denied: the local reply's status (403 unless the service said otherwise) and body. */
  statusCode: number;
  body: string;
}

export function errorResponse(): AuthzResponse {
  return { status: 'error', headersToSet: [], headersToAppend: [], headersToRemove: [], responseHeadersToAdd: [], statusCode: 403, body: '' };
}

/** A pending check; cancel() drops it (the stream went away) and its callback never runs. */
export interface CheckCall {
  cancel(): void;
}
