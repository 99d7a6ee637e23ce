/**
 * Rates from repeated scrapes of the proxies' counters, as Prometheus' rate() would give them: a
 * counter's increase over the window divided by its length, a reset (the proxy restarted) counted
 * from zero, and a series that appeared between two scrapes of the same proxy counted from zero
 * (a counter that did not exist had counted nothing).
 */
import { parsePrometheusText, seriesKey, type Sample } from './prom_text.ts';
import type { RateSample, TrafficInput } from './graph.ts';

export const REQUESTS = 'istio_requests_total';
export const DURATION_BUCKET = 'istio_request_duration_milliseconds_bucket';
export const TCP_SENT = 'istio_tcp_sent_bytes_total';
export const TCP_RECEIVED = 'istio_tcp_received_bytes_total';
/** The only families the dashboard keeps from a scrape. */
export const GRAPH_FAMILIES: ReadonlySet<string> = new Set([REQUESTS, DURATION_BUCKET, TCP_SENT, TCP_RECEIVED]);

/** One proxy's counters at one time. */
export interface Snapshot {
  /** ms since the epoch. */
  t: number;
  series: Map<string, Sample>;
}

/** Every proxy scraped in one pass, keyed by target (namespace/pod). */
export interface Round {
  t: number;
  targets: Map<string, Snapshot>;
}

/**
 * A snapshot of the families the graph reads, at most `maxSeries` series (the rest dropped).
 * With `intern`, a series seen before shares its key and labels with earlier snapshots, so a
 * round of history costs a map entry and a number per series, not its labels again.
 */
export function snapshotOf(text: string, t: number, maxSeries = 20_000, intern?: Map<string, Sample & { key: string }>): Snapshot {
  const series = new Map<string, Sample>();
  for (const s of parsePrometheusText(text, GRAPH_FAMILIES)) {
    if (series.size >= maxSeries) break;
    const key = seriesKey(s.name, s.labels);
    const known = intern?.get(key);
    if (known) {
      series.set(known.key, { name: known.name, labels: known.labels, value: s.value });
      continue;
    }
    intern?.set(key, { ...s, key });
    series.set(key, s);
  }
  return { t, series };
}

/** Each series' rate per second from `older` to `newer` (same proxy); none when they are the same time. */
export function ratesBetween(older: Snapshot, newer: Snapshot): Array<RateSample & { name: string }> {
  const dt = (newer.t - older.t) / 1000;
  if (!(dt > 0)) return [];
  const out: Array<RateSample & { name: string }> = [];
  for (const [key, s] of newer.series) {
    const before = older.series.get(key)?.value ?? 0;
    const increase = s.value >= before ? s.value - before : s.value;
    out.push({ name: s.name, labels: s.labels, rate: increase / dt });
  }
  return out;
}

/** Splits rate samples by family into what buildGraph reads. */
export function trafficOf(samples: ReadonlyArray<RateSample & { name: string }>): TrafficInput {
  const requests: RateSample[] = [];
  const durationBuckets: RateSample[] = [];
  const tcpBytes: RateSample[] = [];
  for (const s of samples) {
    if (s.name === REQUESTS) requests.push(s);
    else if (s.name === DURATION_BUCKET) durationBuckets.push(s);
    else if (s.name === TCP_SENT || s.name === TCP_RECEIVED) tcpBytes.push(s);
  }
  return { requests, durationBuckets, tcpBytes };
}

/**
 * The rates over the last `windowSec` seconds: for every proxy in the newest round, from its
 * oldest snapshot inside the window (or, when it has only one there, the one just before).
 * Returns the window actually covered, in seconds (0 when there are not two scrapes yet).
 */
export function windowRates(rounds: readonly Round[], windowSec: number): { traffic: TrafficInput; covered: number } {
  const newest = rounds[rounds.length - 1];
  if (!newest) return { traffic: trafficOf([]), covered: 0 };
  const since = newest.t - windowSec * 1000;
  const samples: Array<RateSample & { name: string }> = [];
  let covered = 0;
  for (const [target, snap] of newest.targets) {
    let older: Snapshot | undefined;
    for (let i = rounds.length - 2; i >= 0; i--) {
      const s = rounds[i]!.targets.get(target);
      if (!s) continue;
      if (!older || s.t >= since) older = s;
      if (s.t < since) break;
    }
    if (!older) continue;
    covered = Math.max(covered, (snap.t - older.t) / 1000);
    samples.push(...ratesBetween(older, snap));
  }
  return { traffic: trafficOf(samples), covered };
}
