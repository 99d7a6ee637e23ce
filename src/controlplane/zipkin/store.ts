/**
 * The embedded collector's memory: Zipkin v2 spans grouped by trace, bounded by a span cap. When
 * the cap is reached the oldest traces (by first arrival) go first, so a long-running demo keeps
 * its recent traces and a fixed footprint. The service → span-name index counts the stored spans
 * behind each name, so evicted traces take their names with them, and holds at most
 * MAX_SPAN_NAMES_PER_SERVICE names per service (span names come from callers: `egress <authority>`,
 * an x-envoy-decorator-operation), so anyone who can POST cannot grow it past the cap.
 *
 * Default cap, measured (Node 20, `--expose-gc`, heapUsed after gc): spans as the proxies send
 * them, parsed from JSON, with 20 tags each (URL, node id, user agent, request id, Istio tags)
 * cost about 1.16 KB each: 50,000 spans took 55 MB of heap (85 MB RSS), 30,000 take 33 MB
 * (about 60 MB RSS), 10,000 take 11 MB. 30,000 keeps the control plane's collector within the
 * 30-50 MB aimed at, about 6,000 five-hop traces.
 */

/** A Zipkin v2 span as POSTed (https://zipkin.io/zipkin-api/zipkin2-api.yaml). */
export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';
  timestamp?: number;
  duration?: number;
  debug?: boolean;
  shared?: boolean;
  localEndpoint?: { serviceName?: string; ipv4?: string; ipv6?: string; port?: number };
  remoteEndpoint?: { serviceName?: string; ipv4?: string; ipv6?: string; port?: number };
  annotations?: Array<{ timestamp: number; value: string }>;
  tags?: Record<string, string>;
}

export const DEFAULT_MAX_SPANS = 30_000;
/** Span names listed per service; spans of further names are stored but not indexed. */
export const MAX_SPAN_NAMES_PER_SERVICE = 1_000;

interface Trace {
  spans: ZipkinSpan[];
  /** Earliest span timestamp (µs), for time windows and ordering. */
  start: number;
}

const HEX = /^[0-9a-f]{1,32}$/;

/** Zipkin's trace id normal form: lower-case hex, 16 or 32 digits. */
export function normalizeTraceId(id: string): string | undefined {
  const v = id.toLowerCase();
  if (!HEX.test(v)) return undefined;
  return v.length <= 16 ? v.padStart(16, '0') : v.padStart(32, '0');
}

/** Why a posted span was refused; undefined when it is acceptable. */
export function spanProblem(s: unknown): string | undefined {
  if (!s || typeof s !== 'object') return 'a span must be an object';
  const o = s as Record<string, unknown>;
  if (typeof o.traceId !== 'string' || !normalizeTraceId(o.traceId)) return 'traceId must be 16 or 32 lower-hex characters';
  if (typeof o.id !== 'string' || !/^[0-9a-fA-F]{1,16}$/.test(o.id)) return 'id must be 16 lower-hex characters';
  if (o.parentId !== undefined && (typeof o.parentId !== 'string' || !/^[0-9a-fA-F]{1,16}$/.test(o.parentId))) return 'parentId must be 16 lower-hex characters';
  if (o.tags !== undefined && (typeof o.tags !== 'object' || o.tags === null || Object.values(o.tags).some((v) => typeof v !== 'string'))) return 'tags must map strings to strings';
  return undefined;
}

export interface TraceQuery {
  serviceName?: string;
  spanName?: string;
  /** `key` or `key=value` terms joined by ` and `, matched against tags. */
  annotationQuery?: string;
  minDuration?: number;
  maxDuration?: number;
  /** Window end and length, ms since the epoch (Zipkin's endTs / lookback). */
  endTs?: number;
  lookback?: number;
  limit: number;
}

export class TraceStore {
  private readonly traces = new Map<string, Trace>();
  private spanCount = 0;
  /** serviceName → span name → stored spans (indexed ones) with that name. */
  private readonly services = new Map<string, Map<string, number>>();
  /** Spans not counted in `services` (their name came over the cap), so eviction does not uncount them. */
  private readonly overCap = new WeakSet<ZipkinSpan>();
  droppedTraces = 0;

  constructor(readonly maxSpans = DEFAULT_MAX_SPANS) {}

  get size(): { traces: number; spans: number } {
    return { traces: this.traces.size, spans: this.spanCount };
  }

  add(spans: readonly ZipkinSpan[]): void {
    for (const s of spans) {
      const key = normalizeTraceId(s.traceId)!;
      const span: ZipkinSpan = { ...s, traceId: key, id: s.id.toLowerCase().padStart(16, '0'), ...(s.parentId ? { parentId: s.parentId.toLowerCase().padStart(16, '0') } : {}) };
      let t = this.traces.get(key);
      if (!t) this.traces.set(key, (t = { spans: [], start: span.timestamp ?? Date.now() * 1000 }));
      t.spans.push(span);
      if (span.timestamp !== undefined && span.timestamp < t.start) t.start = span.timestamp;
      this.spanCount++;
      this.index(span);
    }
    this.evict();
  }

  /** Counts the span under its service and name, unless its name would exceed the service's cap. */
  private index(span: ZipkinSpan): void {
    const service = span.localEndpoint?.serviceName?.toLowerCase();
    if (!service) return;
    let names = this.services.get(service);
    if (!names) this.services.set(service, (names = new Map()));
    // A span without a name keeps its service listed.
    const name = span.name?.toLowerCase() ?? '';
    const n = names.get(name);
    if (n !== undefined) names.set(name, n + 1);
    else if (names.size < MAX_SPAN_NAMES_PER_SERVICE) names.set(name, 1);
    else this.overCap.add(span);
  }

  private unindex(span: ZipkinSpan): void {
    const service = span.localEndpoint?.serviceName?.toLowerCase();
    const names = service ? this.services.get(service) : undefined;
    if (!names || this.overCap.has(span)) return;
    const name = span.name?.toLowerCase() ?? '';
    const n = names.get(name);
    if (n === undefined) return;
    if (n > 1) return void names.set(name, n - 1);
    names.delete(name);
    if (names.size === 0) this.services.delete(service!);
  }

  /** Drops the oldest traces until the span cap holds (a trace larger than the cap goes too). */
  private evict(): void {
    for (const [key, t] of this.traces) {
      if (this.spanCount <= this.maxSpans) break;
      this.traces.delete(key);
      this.spanCount -= t.spans.length;
      for (const s of t.spans) this.unindex(s);
      this.droppedTraces++;
    }
  }

  serviceNames(): string[] {
    return [...this.services.keys()].sort();
  }

  spanNames(service: string): string[] {
    return [...(this.services.get(service.toLowerCase())?.keys() ?? [])].filter((n) => n !== '').sort();
  }

  trace(id: string): ZipkinSpan[] | undefined {
    const key = normalizeTraceId(id);
    if (!key) return undefined;
    // A 64-bit id finds a 128-bit trace by its low half, as Zipkin does without strict trace ids.
    const t = this.traces.get(key) ?? (key.length === 16 ? [...this.traces.entries()].find(([k]) => k.endsWith(key))?.[1] : undefined);
    return t?.spans;
  }

  /** Traces matching the query, newest first. */
  query(q: TraceQuery): ZipkinSpan[][] {
    const end = (q.endTs ?? Date.now()) * 1000;
    const begin = q.lookback !== undefined ? end - q.lookback * 1000 : -Infinity;
    const service = q.serviceName?.toLowerCase();
    const spanName = q.spanName?.toLowerCase();
    const terms = (q.annotationQuery ?? '').split(/\s+and\s+/).map((t) => t.trim()).filter(Boolean).map((t) => {
      const i = t.indexOf('=');
      return i < 0 ? { key: t } : { key: t.slice(0, i), value: t.slice(i + 1) };
    });
    const out: Array<{ start: number; spans: ZipkinSpan[] }> = [];
    for (const t of this.traces.values()) {
      if (t.start > end || t.start < begin) continue;
      const ok = t.spans.some((s) => {
        if (service && s.localEndpoint?.serviceName?.toLowerCase() !== service) return false;
        if (spanName && spanName !== 'all' && s.name?.toLowerCase() !== spanName) return false;
        if (q.minDuration !== undefined && (s.duration ?? 0) < q.minDuration) return false;
        if (q.maxDuration !== undefined && (s.duration ?? 0) > q.maxDuration) return false;
        return terms.every((term) => (term.value === undefined ? s.tags?.[term.key] !== undefined || s.annotations?.some((a) => a.value === term.key) : s.tags?.[term.key] === term.value));
      });
      if (ok) out.push({ start: t.start, spans: t.spans });
    }
    out.sort((a, b) => b.start - a.start);
    return out.slice(0, q.limit).map((t) => t.spans);
  }
}
