/**
 * envoy.tracers.zipkin (envoy.config.trace.v3.ZipkinConfig): B3 propagation and Zipkin v2 JSON
 * reports (POST collector_endpoint, usually /api/v2/spans) to collector_cluster.
 */
import type { ClusterManager, Clock, Stats } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { SpanBatcher } from './batcher.ts';
import { postReport } from './collector_post.ts';
import { CLOSE_TIMEOUT_MS, sharedDriver, type SharedDriver } from './driver.ts';
import { Format } from './span_context.ts';
import type { FinishedSpan, LocalEndpoint } from './span.ts';

/** Envoy's runtime defaults tracing.zipkin.min_flush_spans and flush_interval_ms. */
export const ZIPKIN_MIN_FLUSH_SPANS = 5;
export const ZIPKIN_FLUSH_INTERVAL_MS = 5_000;
const MAX_QUEUED = 1_000;
const REPORT_TIMEOUT_MS = CLOSE_TIMEOUT_MS;

interface ZipkinJsonSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind: string;
  timestamp: number;
  duration: number;
  localEndpoint: LocalEndpoint;
  tags: Record<string, string>;
  shared?: true;
}

/** Zipkin v2 JSON for one span (https://zipkin.io/zipkin-api/#/default/post_spans). */
export function zipkinJson(s: FinishedSpan, local: LocalEndpoint): ZipkinJsonSpan {
  const out: ZipkinJsonSpan = { traceId: s.traceId, id: s.id, name: s.name, kind: s.kind, timestamp: s.timestampUs, duration: Math.max(1, s.durationUs), localEndpoint: local, tags: s.tags };
  if (s.parentId) out.parentId = s.parentId;
  if (s.shared) out.shared = true;
  return out;
}

/** Validates a ZipkinConfig (throws to NACK) and returns this proxy's driver for it, with the release its HCM calls when it is gone. */
export function zipkinDriver(c: EnvoyJson, cm: ClusterManager, stats: Stats, clock: Clock): SharedDriver {
  const cluster = c.collector_cluster;
  if (typeof cluster !== 'string' || !cluster) throw new Error('ZipkinConfig.collector_cluster is required');
  const endpoint = c.collector_endpoint;
  if (typeof endpoint !== 'string' || !endpoint.startsWith('/')) throw new Error('ZipkinConfig.collector_endpoint is required (a path such as /api/v2/spans)');
  const version = c.collector_endpoint_version ?? 'HTTP_JSON';
  if (version !== 'HTTP_JSON' && version !== 'DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE') throw new Error(`ZipkinConfig.collector_endpoint_version ${version} is not supported (HTTP_JSON is)`);
  const traceId128 = c.trace_id_128bit === true;
  // google.protobuf.BoolValue, Envoy's default true.
  const sharedRaw = c.shared_span_context;
  const shared = (typeof sharedRaw === 'object' && sharedRaw !== null ? sharedRaw.value : sharedRaw) !== false;
  const target = { cluster, path: endpoint, hostname: typeof c.collector_hostname === 'string' && c.collector_hostname ? c.collector_hostname : cluster, timeoutMs: REPORT_TIMEOUT_MS };
  const key = `zipkin|${cluster}|${endpoint}|${target.hostname}|${traceId128}|${shared}`;
  return sharedDriver(stats, key, () => {
    const st = (n: string) => stats.counter(`tracing.zipkin.${n}`);
    const sent = st('spans_sent');
    const reportsSent = st('reports_sent');
    const reportsFailed = st('reports_failed');
    const reportsDropped = st('reports_dropped');
    const noCluster = st('reports_skipped_no_cluster');
    const spansDropped = st('spans_dropped');
    // Each span carries its reporter, so one report may mix HCMs of this proxy.
    const locals = new WeakMap<FinishedSpan, LocalEndpoint>();
    const batcher = new SpanBatcher({
      minFlushSpans: ZIPKIN_MIN_FLUSH_SPANS,
      flushIntervalMs: ZIPKIN_FLUSH_INTERVAL_MS,
      maxQueued: MAX_QUEUED,
      maxBatch: 500,
      maxInFlight: 2,
      clock,
      stats: { spansDropped, timerFlushed: st('timer_flushed') },
      send: (spans, done) => {
        const body = Buffer.from(JSON.stringify(spans.map((s) => zipkinJson(s, locals.get(s)!))));
        postReport(cm, target, 'application/json', body, clock, (ok, missing) => {
          if (ok) {
            reportsSent.inc();
            sent.inc(spans.length);
          } else {
            (missing ? noCluster : reportsFailed).inc();
            reportsDropped.inc();
            spansDropped.inc(spans.length);
          }
          done(ok);
        });
      },
    });
    return {
      name: 'zipkin',
      w3cFirst: false,
      injectFormats: Format.B3,
      traceId128,
      sharedSpanContext: shared,
      report(span, local) {
        locals.set(span, local);
        batcher.add(span);
      },
      close: () => batcher.close(),
    };
  });
}
