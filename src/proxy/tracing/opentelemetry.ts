/**
 * envoy.tracers.opentelemetry (envoy.config.trace.v3.OpenTelemetryConfig) over OTLP/HTTP with
 * the JSON encoding (POST http_service.http_uri, usually /v1/traces): W3C trace context
 * propagation, spans grouped under a `service.name` resource. The gRPC exporter is not built:
 * grpc_service is rejected so a config that needs it is NACKed rather than silently dropped.
 */
import type { ClusterManager, Clock, Stats } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { durationMs } from '../duration.ts';
import { SpanBatcher } from './batcher.ts';
import { postReport } from './collector_post.ts';
import { sharedDriver, type SharedDriver } from './driver.ts';
import { Format } from './span_context.ts';
import type { FinishedSpan, LocalEndpoint } from './span.ts';

const MIN_FLUSH_SPANS = 5;
const FLUSH_INTERVAL_MS = 5_000;
const MAX_QUEUED = 1_000;

/** OTLP SpanKind: SPAN_KIND_SERVER = 2, SPAN_KIND_CLIENT = 3. */
const KIND = { SERVER: 2, CLIENT: 3 } as const;

const attr = (key: string, value: string) => ({ key, value: { stringValue: value } });

/** An OTLP/JSON ExportTraceServiceRequest; ids hex as the OTLP/JSON mapping says. */
export function otlpJson(spans: readonly FinishedSpan[], locals: (s: FinishedSpan) => LocalEndpoint): unknown {
  const byService = new Map<string, FinishedSpan[]>();
  for (const s of spans) {
    const name = locals(s).serviceName;
    const list = byService.get(name);
    if (list) list.push(s);
    else byService.set(name, [s]);
  }
  return {
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: { attributes: [attr('service.name', service)] },
      scopeSpans: [
        {
          scope: { name: 'envoy' },
          spans: list.map((s) => ({
            traceId: s.traceId.length === 16 ? '0'.repeat(16) + s.traceId : s.traceId,
            spanId: s.id,
            ...(s.parentId ? { parentSpanId: s.parentId } : {}),
            name: s.name,
            kind: KIND[s.kind],
            startTimeUnixNano: `${s.timestampUs}000`,
            endTimeUnixNano: `${s.timestampUs + Math.max(1, s.durationUs)}000`,
            attributes: Object.entries(s.tags).map(([k, v]) => attr(k, v)),
            // STATUS_CODE_ERROR = 2; unset otherwise, as Envoy leaves it.
            ...(s.error ? { status: { code: 2 } } : {}),
          })),
        },
      ],
    })),
  };
}

/** Validates an OpenTelemetryConfig (throws to NACK) and returns this proxy's driver for it, with the release its HCM calls when it is gone. */
export function openTelemetryDriver(c: EnvoyJson, cm: ClusterManager, stats: Stats, clock: Clock): SharedDriver {
  if (c.grpc_service) throw new Error('OpenTelemetryConfig.grpc_service is not supported: use http_service (OTLP/HTTP)');
  const http = c.http_service;
  const uri = http?.http_uri;
  if (!uri || typeof uri.cluster !== 'string' || !uri.cluster || typeof uri.uri !== 'string') throw new Error('OpenTelemetryConfig.http_service.http_uri with uri and cluster is required');
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(uri.uri) ? uri.uri : `http://${uri.uri}`);
  } catch {
    throw new Error(`OpenTelemetryConfig.http_service.http_uri.uri ${JSON.stringify(uri.uri)} is not a URL`);
  }
  const headersToAdd = (http.request_headers_to_add ?? []) as EnvoyJson[];
  if (headersToAdd.length > 0) throw new Error('OpenTelemetryConfig.http_service.request_headers_to_add is not supported');
  const serviceName = typeof c.service_name === 'string' && c.service_name ? c.service_name : undefined;
  const target = { cluster: uri.cluster as string, path: url.pathname + url.search, hostname: url.host, timeoutMs: durationMs(uri.timeout) ?? 5_000 };
  const key = `otel|${target.cluster}|${target.path}|${target.hostname}|${target.timeoutMs}|${serviceName ?? ''}`;
  return sharedDriver(stats, key, () => {
    const st = (n: string) => stats.counter(`tracing.opentelemetry.${n}`);
    const sent = st('spans_sent');
    const ok = st('http_reports_success');
    const failed = st('http_reports_failed');
    const spansDropped = st('spans_dropped');
    const locals = new WeakMap<FinishedSpan, LocalEndpoint>();
    const localOf = (s: FinishedSpan) => locals.get(s)!;
    const batcher = new SpanBatcher({
      minFlushSpans: MIN_FLUSH_SPANS,
      flushIntervalMs: FLUSH_INTERVAL_MS,
      maxQueued: MAX_QUEUED,
      maxBatch: 500,
      maxInFlight: 2,
      clock,
      stats: { spansDropped, timerFlushed: st('timer_flushed') },
      send: (spans, done) => {
        const body = Buffer.from(JSON.stringify(otlpJson(spans, localOf)));
        postReport(cm, target, 'application/json', body, clock, (good) => {
          if (good) {
            ok.inc();
            sent.inc(spans.length);
          } else {
            failed.inc();
            spansDropped.inc(spans.length);
          }
          done(good);
        });
      },
    });
    return {
      name: 'opentelemetry',
      w3cFirst: true,
      injectFormats: Format.W3C,
      traceId128: true,
      sharedSpanContext: false,
      report(span, local) {
        locals.set(span, serviceName ? { ...local, serviceName } : local);
        batcher.add(span);
      },
      close: () => batcher.close(),
    };
  });
}
