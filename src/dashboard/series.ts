/**
 * A service's or a workload's inbound traffic over time (request rate, error percentage, p95
 * latency), one point per pair of consecutive scrapes: what the dashboard's charts draw, as
 * Kiali's inbound metrics tab does.
 */
import { quantile, type RateSample } from './graph.ts';
import { DURATION_BUCKET, REQUESTS, ratesBetween, type Round } from './rates.ts';
import type { Labels } from './prom_text.ts';

export interface NodeSeries {
  node: string;
  /** Unix seconds of each point. */
  t: number[];
  /** Requests per second. */
  requests: number[];
  /** Percentage of requests that failed (5xx, no response, gRPC error). */
  errors: number[];
  /** p95 latency in ms; null where no request finished. */
  p95: Array<number | null>;
}

/** Whether a destination-reported series is inbound traffic of graph node `id` ("svc:ns:name" / "wl:ns:name"). */
export function isInboundOf(id: string, l: Labels): boolean {
  if (l.reporter !== 'destination') return false;
  const [kind, ns, name] = splitNodeId(id);
  if (kind === 'svc') return l.destination_service_namespace === ns && l.destination_service_name === name;
  if (kind === 'wl') return l.destination_workload_namespace === ns && l.destination_workload === name;
  return false;
}

export function splitNodeId(id: string): [string, string, string] {
  const first = id.indexOf(':');
  const second = id.indexOf(':', first + 1);
  if (first < 0 || second < 0) return ['', '', ''];
  return [id.slice(0, first), id.slice(first + 1, second), id.slice(second + 1)];
}

function failed(l: Labels): boolean {
  const code = l.response_code ?? '';
  if (l.request_protocol === 'grpc' && l.grpc_response_status && l.grpc_response_status !== '0') return true;
  return code === '0' || code === '' || code.startsWith('5');
}

export function nodeSeries(rounds: readonly Round[], id: string): NodeSeries {
  const out: NodeSeries = { node: id, t: [], requests: [], errors: [], p95: [] };
  for (let i = 1; i < rounds.length; i++) {
    const prev = rounds[i - 1]!;
    const cur = rounds[i]!;
    let total = 0;
    let errors = 0;
    const buckets = new Map<number, number>();
    let seen = false;
    for (const [target, snap] of cur.targets) {
      const before = prev.targets.get(target);
      if (!before) continue;
      for (const s of ratesBetween(before, snap) as Array<RateSample & { name: string }>) {
        if (!isInboundOf(id, s.labels)) continue;
        seen = true;
        if (s.name === REQUESTS) {
          total += s.rate;
          if (failed(s.labels)) errors += s.rate;
        } else if (s.name === DURATION_BUCKET) {
          const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
          if (!Number.isNaN(le)) buckets.set(le, (buckets.get(le) ?? 0) + s.rate);
        }
      }
    }
    // A round where the node's proxies were not scraped twice is no point at all, not a zero.
    if (!seen && total === 0 && cur.targets.size === 0) continue;
    out.t.push(Math.round(cur.t / 1000));
    out.requests.push(round3(total));
    out.errors.push(total > 0 ? round3((100 * errors) / total) : 0);
    const p = quantile(0.95, buckets);
    out.p95.push(p === undefined ? null : round3(p));
  }
  return out;
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
