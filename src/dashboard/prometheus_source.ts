/**
 * The same rates from a Prometheus that scrapes the mesh (Kiali's way): PromQL rate() over the
 * window, grouped by the labels the graph reads, through Prometheus' HTTP API. The graph builder
 * does not know which source it got.
 */
import type { RateSample, TrafficInput } from './graph.ts';
import { DURATION_BUCKET, REQUESTS, TCP_RECEIVED, TCP_SENT } from './rates.ts';
import { splitNodeId, type NodeSeries } from './series.ts';

const PEER = 'source_workload,source_workload_namespace,source_app,source_version,destination_workload,destination_workload_namespace,destination_app,destination_version,destination_service_name,destination_service_namespace,reporter';
const BY_REQUEST = `${PEER},request_protocol,response_code,grpc_response_status,connection_security_policy`;

interface VectorAnswer {
  status: string;
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }> };
}

async function promQuery(base: string, path: string, params: Record<string, string>, timeoutMs: number): Promise<NonNullable<VectorAnswer['data']>['result']> {
  const url = `${base.replace(/\/+$/, '')}${path}?${new URLSearchParams(params)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = JSON.parse(await cappedText(res, base)) as VectorAnswer;
  if (body.status !== 'success' || !body.data) throw new Error(`prometheus at ${base}: ${body.error ?? `HTTP ${res.status}`}`);
  return body.data.result;
}

/** An answer's body, at most MAX_ANSWER_BYTES (as the proxies' scraper cuts its answers). */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

async function cappedText(res: Response, base: string): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += c.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      throw new Error(`prometheus at ${base}: the answer is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MB; narrow the query`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function samples(result: NonNullable<VectorAnswer['data']>['result']): RateSample[] {
  return result.map((r) => ({ labels: r.metric, rate: Number(r.value?.[1] ?? 0) })).filter((s) => Number.isFinite(s.rate));
}

/** Prometheus' duration for a window in seconds ("60s"). */
function range(windowSec: number): string {
  return `${Math.max(1, Math.round(windowSec))}s`;
}

export async function prometheusTraffic(base: string, windowSec: number, timeoutMs = 5000): Promise<TrafficInput> {
  const w = range(windowSec);
  const [requests, durationBuckets, tcpBytes] = await Promise.all([
    promQuery(base, '/api/v1/query', { query: `sum(rate(${REQUESTS}[${w}])) by (${BY_REQUEST})` }, timeoutMs),
    promQuery(base, '/api/v1/query', { query: `sum(rate(${DURATION_BUCKET}[${w}])) by (${PEER},request_protocol,le)` }, timeoutMs),
    promQuery(base, '/api/v1/query', { query: `sum(rate(${TCP_SENT}[${w}]) + rate(${TCP_RECEIVED}[${w}])) by (${PEER},connection_security_policy)` }, timeoutMs),
  ]);
  return { requests: samples(requests), durationBuckets: samples(durationBuckets), tcpBytes: samples(tcpBytes) };
}

/** A node's inbound series over the last `windowSec` seconds, `stepSec` apart (query_range). */
export async function prometheusSeries(base: string, id: string, windowSec: number, stepSec: number, timeoutMs = 5000): Promise<NodeSeries> {
  const [kind, ns, name] = splitNodeId(id);
  const sel =
    kind === 'svc'
      ? `reporter="destination",destination_service_namespace="${esc(ns)}",destination_service_name="${esc(name)}"`
      : `reporter="destination",destination_workload_namespace="${esc(ns)}",destination_workload="${esc(name)}"`;
  const r = range(Math.max(stepSec * 2, 10));
  const end = Date.now() / 1000;
  const params = (query: string) => ({ query, start: String(end - windowSec), end: String(end), step: `${stepSec}s` });
  const [req, err, p95] = await Promise.all([
    promQuery(base, '/api/v1/query_range', params(`sum(rate(${REQUESTS}{${sel}}[${r}]))`), timeoutMs),
    promQuery(base, '/api/v1/query_range', params(`100 * sum(rate(${REQUESTS}{${sel},response_code=~"5..|0"}[${r}])) / sum(rate(${REQUESTS}{${sel}}[${r}]))`), timeoutMs),
    promQuery(base, '/api/v1/query_range', params(`histogram_quantile(0.95, sum(rate(${DURATION_BUCKET}{${sel}}[${r}])) by (le))`), timeoutMs),
  ]);
  const out: NodeSeries = { node: id, t: [], requests: [], errors: [], p95: [] };
  const at = (res: typeof req) => new Map((res[0]?.values ?? []).map(([t, v]) => [Math.round(t), Number(v)]));
  const e = at(err);
  const p = at(p95);
  for (const [t, v] of at(req)) {
    out.t.push(t);
    out.requests.push(v);
    const ev = e.get(t);
    out.errors.push(ev !== undefined && Number.isFinite(ev) ? ev : 0);
    const pv = p.get(t);
    out.p95.push(pv !== undefined && Number.isFinite(pv) ? pv : null);
  }
  return out;
}

function esc(s: string): string {
  return s.replace(/["\\]/g, '\\$&');
}
