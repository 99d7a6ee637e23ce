/**
 * Headers Bookinfo's apps copy from the request they serve onto the requests they make. Istio
 * cannot join spans across an app by itself: the app has to carry these along. The list matches
 * the one the original apps keep in sync between productpage, details and reviews.
 */
import type { IncomingHttpHeaders } from 'node:http';

export const TRACING_HEADERS = [
  'x-request-id',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'b3',
  'x-ot-span-context',
  'traceparent',
  'tracestate',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
  'sw8',
] as const;

/** Non-tracing headers the originals forward too: routing by user and auth need them. */
export const CONTEXT_HEADERS = ['end-user', 'user-agent', 'cookie', 'authorization', 'jwt'] as const;

export function forwardHeaders(incoming: IncomingHttpHeaders, names: readonly string[] = [...TRACING_HEADERS, ...CONTEXT_HEADERS]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const v = incoming[name];
    if (v === undefined) continue;
    out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}
