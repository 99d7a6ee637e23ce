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
  /** Sends what is queued and stops; resolves when no report is outstanding. */
  close(): Promise<void>;
}

interface Entry {
  driver: TracingDriver;
  /** HCM configs holding it; the last release closes it (Envoy's tracer manager keeps drivers by weak reference to the same effect). */
  refs: number;
}

const drivers = new WeakMap<Stats, Map<string, Entry>>();

/**
 * The driver for `key` in this proxy (its stats store), built once by `make`, and the release
 * its holder calls when it is gone: a driver no HCM references any more is closed (its queue
 * sent, its timer and batcher released), so replaced collector configs do not pile up.
 */
export interface SharedDriver {
  driver: TracingDriver;
  /** Called once by the holder when it is gone. */
  release: () => void;
}

export function sharedDriver(stats: Stats, key: string, make: () => TracingDriver): SharedDriver {
  let byKey = drivers.get(stats);
  if (!byKey) drivers.set(stats, (byKey = new Map()));
  let e = byKey.get(key);
  if (!e) byKey.set(key, (e = { driver: make(), refs: 0 }));
  e.refs++;
  const entry = e;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    if (--entry.refs > 0 || byKey.get(key) !== entry) return;
    byKey.delete(key);
    void entry.driver.close();
  };
  return { driver: e.driver, release };
}

/** Drivers this proxy holds (the tracing.drivers_active gauge). */
export function tracingDriverCount(stats: Stats): number {
  return drivers.get(stats)?.size ?? 0;
}

/** The longest shutdown waits for reports: a report's own timeout (Zipkin's, and OTLP's default). */
export const CLOSE_TIMEOUT_MS = 5_000;

/**
 * Shutdown: every driver sends its queued spans, then the wait for outstanding reports, at most
 * `timeoutMs`, so the last requests before a stop are in their traces.
 */
export async function closeTracingDrivers(stats: Stats, timeoutMs = CLOSE_TIMEOUT_MS): Promise<void> {
  const byKey = drivers.get(stats);
  if (!byKey || byKey.size === 0) return;
  const closing = [...byKey.values()].map((e) => e.driver.close());
  byKey.clear();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
  await Promise.race([Promise.all(closing), bound]);
  clearTimeout(timer);
}
