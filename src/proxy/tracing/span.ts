/**
 * A finished span as the exporters see it: the tracer builds one per traced stream at its end,
 * so nothing here lives on the request path of an unsampled request.
 */

export type SpanKind = 'CLIENT' | 'SERVER';

export interface FinishedSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind: SpanKind;
  /** Zipkin's shared span: a SERVER span that reuses its caller's span id (shared_span_context). */
  shared: boolean;
  /** Epoch microseconds. */
  timestampUs: number;
  durationUs: number;
  tags: Record<string, string>;
  error: boolean;
}

/** Who reports: Zipkin's localEndpoint, OpenTelemetry's resource. */
export interface LocalEndpoint {
  serviceName: string;
  ipv4?: string;
}
