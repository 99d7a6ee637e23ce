/**
 * Envoy-style stats store: counters, gauges and fixed-bucket histograms, created once and then
 * updated with plain arithmetic on the hot path. Names follow Envoy (cluster.<name>.upstream_rq_total,
 * listener.<address>.downstream_cx_total, http.<stat_prefix>.downstream_rq_total, server.live).
 * Scopes prepend a prefix and remember the tag Envoy's Prometheus output would extract from it.
 */
import type { Stats } from '../interfaces.ts';
import { mergeLabelled, type LabelledRegistry, type LabelledSnapshot } from '../istio/metrics_registry.ts';

/** Envoy's default histogram buckets (milliseconds). */
export const DEFAULT_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

export class Counter {
  v = 0;
  inc(n = 1): void {
    this.v += n;
  }
  value(): number {
    return this.v;
  }
}

export class Gauge {
  v = 0;
  set(v: number): void {
    this.v = v;
  }
  inc(n = 1): void {
    this.v += n;
  }
  dec(n = 1): void {
    this.v -= n;
  }
  value(): number {
    return this.v;
  }
}

export class Histogram {
  /** Cumulative-free bucket counts; the last slot counts values above every bound. */
  readonly counts = new Float64Array(DEFAULT_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  record(v: number): void {
    let i = 0;
    while (i < DEFAULT_BUCKETS.length && v > DEFAULT_BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** Prometheus name parts extracted from a stat's scope: envoy_cluster_<rest>{envoy_cluster_name="..."}. */
export interface StatTag {
  /** e.g. "cluster." — the part of the name replaced by the tag. */
  prefix: string;
  /** Prometheus family prefix, e.g. "cluster". */
  family: string;
  label: string;
  value: string;
}

/** Serializable snapshot, used to aggregate workers' stats in the primary. */
export interface StatsSnapshot {
  counters: Record<string, number>;
  gauges: Record<string, number>;
  histograms: Record<string, { counts: number[]; sum: number; count: number }>;
  tags: Record<string, StatTag>;
  /** (issue 12) Istio's labelled istio_* series (src/proxy/istio/metrics_registry.ts), when any filter records them. */
  labelled?: LabelledSnapshot;
}

export class StatsStore implements Stats {
  readonly counters = new Map<string, Counter>();
  readonly gauges = new Map<string, Gauge>();
  readonly histograms = new Map<string, Histogram>();
  /** Full stat name -> extracted tag, for Prometheus rendering. */
  readonly tags = new Map<string, StatTag>();
  /** (issue 12) The labelled istio_* series, created by the first Istio stats filter (labelledRegistry()). */
  labelled: LabelledRegistry | undefined = undefined;

  counter(name: string): Counter {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = new Counter()));
    return c;
  }
  gauge(name: string): Gauge {
    let g = this.gauges.get(name);
    if (!g) this.gauges.set(name, (g = new Gauge()));
    return g;
  }
  histogram(name: string): Histogram {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = new Histogram()));
    return h;
  }

  /** A view that prefixes every name (e.g. "cluster.<name>."); `tag` drives Prometheus labels. */
  scope(prefix: string, tag?: Omit<StatTag, 'prefix'>): ScopedStats {
    return new ScopedStats(this, prefix, tag ? { ...tag, prefix } : undefined);
  }

  /**
   * Drops every stat a scope tagged with `family`/`value` (e.g. cluster "x"): Envoy frees a
   * cluster's stats once the cluster is gone, so /stats stops listing it. Matching on the tag,
   * not the name prefix, keeps cluster "a" from taking "a.b"'s stats with it.
   */
  removeTagged(family: string, value: string): void {
    for (const [name, t] of this.tags) {
      if (t.family !== family || t.value !== value) continue;
      this.counters.delete(name);
      this.gauges.delete(name);
      this.histograms.delete(name);
      this.tags.delete(name);
    }
  }

  snapshot(): StatsSnapshot {
    const s: StatsSnapshot = { counters: {}, gauges: {}, histograms: {}, tags: {} };
    for (const [k, c] of this.counters) s.counters[k] = c.v;
    for (const [k, g] of this.gauges) s.gauges[k] = g.v;
    for (const [k, h] of this.histograms) s.histograms[k] = { counts: Array.from(h.counts), sum: h.sum, count: h.count };
    for (const [k, t] of this.tags) s.tags[k] = t;
    if (this.labelled) s.labelled = this.labelled.snapshot();
    return s;
  }
}

/** Sums snapshots (counters, gauges and histogram buckets), the way Envoy merges per-worker stats. */
export function mergeSnapshots(snaps: StatsSnapshot[]): StatsSnapshot {
  const out: StatsSnapshot = { counters: {}, gauges: {}, histograms: {}, tags: {} };
  for (const s of snaps) {
    for (const [k, v] of Object.entries(s.counters)) out.counters[k] = (out.counters[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.gauges)) out.gauges[k] = (out.gauges[k] ?? 0) + v;
    for (const [k, h] of Object.entries(s.histograms)) {
      const o = (out.histograms[k] ??= { counts: new Array(h.counts.length).fill(0), sum: 0, count: 0 });
      for (let i = 0; i < h.counts.length; i++) o.counts[i] += h.counts[i];
      o.sum += h.sum;
      o.count += h.count;
    }
    Object.assign(out.tags, s.tags);
  }
  const labelled = mergeLabelled(snaps.map((s) => s.labelled));
  if (labelled) out.labelled = labelled;
  return out;
}

export class ScopedStats implements Stats {
  private detached?: StatsStore;
  constructor(readonly store: StatsStore, readonly prefix: string, private readonly tag?: StatTag) {}
  private full(name: string): string {
    const n = this.prefix + name;
    if (this.tag && !this.store.tags.has(n)) this.store.tags.set(n, this.tag);
    return n;
  }
  /**
   * The owner is gone (a removed cluster still draining its pools): later updates go to a
   * private store, so they never bring the owner's stats back into /stats.
   */
  detach(): void {
    this.detached ??= new StatsStore();
  }
  counter(name: string): Counter {
    return this.detached ? this.detached.counter(name) : this.store.counter(this.full(name));
  }
  gauge(name: string): Gauge {
    return this.detached ? this.detached.gauge(name) : this.store.gauge(this.full(name));
  }
  histogram(name: string): Histogram {
    return this.detached ? this.detached.histogram(name) : this.store.histogram(this.full(name));
  }
}
