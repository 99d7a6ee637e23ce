/**
 * One stream's trace, from the HCM's point of view (Envoy's ConnectionManagerUtility::
 * mutateTracingRequestHeader, HttpTracerUtility and the drivers' startSpan/finishSpan): decide
 * whether to trace, continue or start the trace context, inject the context upstream, and at
 * stream end tag and report the span. Called only when the HCM has a `tracing` block.
 */
import type { HeaderMap, StreamInfo } from '../interfaces.ts';
import { getHeader } from '../http/common/header_utils.ts';
import type { HcmTracing } from './hcm_tracing.ts';
import { extractContext, Format, injectContext, newSpanId, newTraceId } from './span_context.ts';
import type { FinishedSpan } from './span.ts';

/** Envoy's UUID request-id extension keeps the trace reason in the uuid's version digit. */
const TRACE_BYTE = 14;
const TRACE_SAMPLED = '9';
const TRACE_FORCED = 'a';
const TRACE_CLIENT = 'b';
const NO_TRACE = '4';

function traceReason(rid: string | undefined): string | undefined {
  if (!rid || rid.length !== 36) return undefined;
  const c = rid[TRACE_BYTE];
  return c === TRACE_SAMPLED || c === TRACE_FORCED || c === TRACE_CLIENT ? c : NO_TRACE;
}

function withReason(rid: string, reason: string): string {
  return rid.slice(0, TRACE_BYTE) + reason + rid.slice(TRACE_BYTE + 1);
}

/**
 * mutateTracingRequestHeader: client (x-client-trace-id), service-forced (x-envoy-force-trace) or
 * random sampling, decided from the request id so every proxy on the path agrees, and written
 * back into x-request-id; overall_sampling can still veto. Returns whether to trace.
 */
function decide(t: HcmTracing, h: HeaderMap, info: StreamInfo): boolean {
  const rid = getHeader(h, 'x-request-id');
  let reason = traceReason(rid);
  if (reason === undefined) {
    t.stats.notTraceable.inc();
    return false;
  }
  // Stable along the path (every proxy reads the same id), unless configured to be random.
  const result = t.useRequestIdForSampling ? parseInt(rid!.slice(0, 8), 16) % 10_000 : Math.floor(t.random() * 10_000);
  if (Number.isNaN(result)) return false;
  if (reason === NO_TRACE) {
    if (h.has('x-client-trace-id') && result < t.clientSampling) reason = TRACE_CLIENT;
    else if (h.has('x-envoy-force-trace')) reason = TRACE_FORCED;
    else if (result < t.randomSampling) reason = TRACE_SAMPLED;
  }
  if (result >= t.overallSampling) reason = NO_TRACE;
  if (reason !== rid![TRACE_BYTE]) {
    const next = withReason(rid!, reason);
    h.set('x-request-id', next);
    info.requestId = next;
  }
  switch (reason) {
    case TRACE_CLIENT:
      t.stats.clientEnabled.inc();
      return true;
    case TRACE_FORCED:
      t.stats.serviceForced.inc();
      return true;
    case TRACE_SAMPLED:
      t.stats.randomSampling.inc();
      return true;
    default:
      t.stats.notTraceable.inc();
      return false;
  }
}

/** A sampled span in progress; unsampled streams get none. */
export interface ActiveSpan {
  traceId: string;
  id: string;
  parentId?: string;
  shared: boolean;
  name: string;
}

/**
 * At request headers (after the HCM's header mutation and route resolution): the decision, the
 * context continued or started, the child injected into the request the router forwards.
 * `operation` is the route's decorator operation, if any.
 */
export function startSpan(t: HcmTracing, h: HeaderMap, info: StreamInfo, operation: string | undefined): ActiveSpan | undefined {
  const traced = decide(t, h, info);
  const d = t.driver;
  if (!d) return undefined;
  const ext = extractContext(h, d.w3cFirst);
  let traceId: string;
  let id: string;
  let parentId: string | undefined;
  let sampled: boolean;
  let shared = false;
  let tracestate: string | undefined;
  let formats = d.injectFormats;
  if (ext && 'traceId' in ext) {
    traceId = ext.traceId;
    // The caller's decision wins over ours, as Envoy's drivers do.
    sampled = ext.sampled ?? traced;
    formats |= ext.formats;
    tracestate = ext.tracestate;
    if (!t.egress && d.sharedSpanContext && ext.formats !== Format.W3C) {
      // Zipkin's shared span: the server side reports under the client's span id.
      id = ext.spanId;
      parentId = ext.parentId;
      shared = true;
    } else {
      id = newSpanId();
      parentId = ext.spanId;
    }
  } else {
    traceId = newTraceId(d.traceId128);
    id = newSpanId();
    sampled = ext ? ext.sampled : traced;
    if (ext) formats |= ext.formats;
  }
  injectContext(h, { traceId, spanId: id, parentId, sampled, tracestate }, formats);
  if (!sampled) return undefined;
  let name = operation;
  if (!t.egress) name = getHeader(h, 'x-envoy-decorator-operation') ?? name ?? 'ingress';
  else name ??= `egress ${getHeader(h, ':authority') ?? ''}`;
  return { traceId, id, parentId, shared, name };
}

function httpUrl(h: HeaderMap, max: number): string {
  const path = getHeader(h, 'x-envoy-original-path') ?? getHeader(h, ':path') ?? '';
  return `${getHeader(h, ':scheme') ?? 'http'}://${getHeader(h, ':authority') ?? ''}${path.length > max ? path.slice(0, max) : path}`;
}

/** At stream end: Envoy's and Istio's tags from StreamInfo, then the report. */
export function finishSpan(t: HcmTracing, s: ActiveSpan, info: StreamInfo): void {
  const h = info.requestHeaders ?? new Map();
  const tags: Record<string, string> = { ...t.fixedTags };
  const rid = info.requestId ?? getHeader(h, 'x-request-id');
  if (rid) tags['guid:x-request-id'] = rid;
  const client = getHeader(h, 'x-client-trace-id');
  if (client) tags['guid:x-client-trace-id'] = client;
  tags['http.url'] = httpUrl(h, t.maxPathTagLength);
  tags['http.method'] = getHeader(h, ':method') ?? '';
  tags['http.protocol'] = info.protocol ?? '';
  tags.downstream_cluster = getHeader(h, 'x-envoy-downstream-service-cluster') ?? '-';
  tags.user_agent = getHeader(h, 'user-agent') ?? '-';
  const conn = info.connection;
  tags['peer.address'] = info.downstreamRemoteAddress ?? `${conn.remoteAddress}:${conn.remotePort}`;
  tags.request_size = String(info.bytesReceived);
  tags.response_size = String(info.bytesSent);
  tags.response_flags = info.responseFlags.length ? info.responseFlags.join(',') : '-';
  const code = info.responseCode ?? 0;
  tags['http.status_code'] = String(code);
  if (info.upstreamCluster) {
    tags.upstream_cluster = info.upstreamCluster;
    tags['upstream_cluster.name'] = info.upstreamCluster;
  }
  if (info.upstreamHost) tags.upstream_address = info.upstreamHost.address;
  for (const ht of t.headerTags) {
    const v = getHeader(h, ht.header) ?? ht.dflt;
    if (v !== undefined) tags[ht.tag] = v;
  }
  // Envoy marks a span failed on 5xx or when no response went out at all.
  const error = code === 0 || code >= 500;
  if (error) tags.error = 'true';
  const end = info.endTime ?? t.clock.now();
  const span: FinishedSpan = {
    traceId: s.traceId,
    id: s.id,
    parentId: s.parentId,
    name: s.name,
    kind: t.egress ? 'CLIENT' : 'SERVER',
    shared: s.shared,
    timestampUs: info.startTime * 1000,
    durationUs: (end - info.startTime) * 1000,
    tags,
    error,
  };
  t.driver!.report(span, t.local);
}
