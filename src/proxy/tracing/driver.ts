/**
 * A tracing provider as the HCM uses it (Envoy's Tracing::Driver): how it reads and writes the
 * trace context and where finished spans go. One instance per distinct provider config per proxy,
 * shared by every HCM that names it (listener updates do not multiply queues or timers).
 */
import type { Stats } from '../interfaces.ts';
import type { FinishedSpan, LocalEndpoint } from './span.ts';

export interface TracingDriver {
  /** Stats family: tracing.<name>.* */
  readonly name: 'zipkin' | 'opentelemetry';
  /** Extraction order: OpenTelemetry reads traceparent first, Zipkin B3 first. */
  readonly w3cFirst: boolean;
  /** Format bits always injected upstream (span_context.ts Format). */
  readonly injectFormats: number;
  readonly traceId128: boolean;
  /** Zipkin's shared_span_context: a SERVER span reuses its caller's span id. */
  readonly sharedSpanContext: boolean;
  /** Queues a finished, sampled span for export; never blocks. */
  report(span: FinishedSpan, local: LocalEndpoint): void;
  close(): void;
}

const drivers = new WeakMap<Stats, Map<string, TracingDriver>>();

/** The driver for `key` in this proxy (its stats store), built once by `make`. */
export function sharedDriver(stats: Stats, key: string, make: () => TracingDriver): TracingDriver {
  let byKey = drivers.get(stats);
  if (!byKey) drivers.set(stats, (byKey = new Map()));
  let d = byKey.get(key);
  if (!d) {
    d = make();
    byKey.set(key, d);
  }
  return d;
}
