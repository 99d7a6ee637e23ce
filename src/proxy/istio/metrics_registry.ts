/**
 * The labelled series behind Istio's standard metrics (istio_requests_total{reporter=...,...}):
 * one registry per proxy process, families of counters and histograms keyed by a label tuple the
 * stats filters build from precomputed parts (no JSON, no per-request objects besides a new
 * series). Workers send snapshot() to the primary, which merges them (mergeLabelled) and renders
 * Prometheus text only on scrape (renderLabelledPrometheus).
 *
 * Cardinality guard: at most `maxSeries` series per process (TSMESH_ISTIO_MAX_SERIES, default
 * 10,000); an update that would create one more is dropped and counted in
 * `tsmesh_istio_series_dropped_total`, rendered beside the istio_* families. A stream's series
 * are admitted together (begin/commit): all of them or none.
 */
import type { Stats } from '../interfaces.ts';

export const DEFAULT_MAX_SERIES = 10_000;
export const SERIES_DROPPED_METRIC = 'tsmesh_istio_series_dropped_total';
/** Separates label values inside a series key; never part of a (sanitised) label value. */
export const KEY_SEP = '\u0001';

/**
 * Envoy's default histogram buckets, which Istio's histograms (istio_request_duration_milliseconds,
 * istio_request_bytes, istio_response_bytes) render with. Kept literal here (stats_store.ts
 * imports this module).
 */
export const ISTIO_BUCKETS: readonly number[] = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

export class Series {
  value = 0;
  /** Histograms only: per-bucket counts (last slot: above every bound), sum, count. */
  counts?: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly labels: readonly string[], histogram: boolean) {
    if (histogram) this.counts = new Float64Array(ISTIO_BUCKETS.length + 1);
  }
  inc(n: number): void {
    this.value += n;
  }
  record(v: number): void {
    const b = ISTIO_BUCKETS;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts![i]!++;
    this.sum += v;
    this.count++;
  }
}

export class Family {
  readonly series = new Map<string, Series>();
  constructor(
    readonly registry: LabelledRegistry,
    readonly name: string,
    readonly type: 'counter' | 'histogram',
    readonly labelNames: readonly string[],
  ) {}
  /** The series for `key` (label values joined by KEY_SEP); `values()` only runs for a new one. Undefined past the cap. */
  get(key: string, values: () => readonly string[]): Series | undefined {
    let s = this.series.get(key);
    if (s) return s;
    const r = this.registry;
    if (r.pending) {
      // Inside a stream's admission (LabelledRegistry.begin): decided together at commit.
      s = new Series(values(), this.type === 'histogram');
      this.series.set(key, s);
      r.pending.push(this, key);
      return s;
    }
    if (!r.admit()) return undefined;
    s = new Series(values(), this.type === 'histogram');
    this.series.set(key, s);
    return s;
  }
}

export interface LabelledFamilySnapshot {
  /** The metric name (the snapshot's key adds the label names). */
  name: string;
  type: 'counter' | 'histogram';
  labelNames: readonly string[];
  series: { labels: readonly string[]; value: number; counts?: number[]; sum?: number; count?: number }[];
}
export interface LabelledSnapshot {
  families: Record<string, LabelledFamilySnapshot>;
  dropped: number;
}

export class LabelledRegistry {
  private readonly families = new Map<string, Family>();
  private total = 0;
  dropped = 0;
  constructor(public maxSeries = envMaxSeries()) {}

  /** The family `name` with these labels (a family whose labels changed, e.g. a new tagOverride, is replaced). */
  /**
   * The family `name` with these labels. Listeners whose configs differ (a tagOverride on one
   * workload's inbound only) get separate families under one metric name, as Prometheus allows.
   */
  family(name: string, type: 'counter' | 'histogram', labelNames: readonly string[]): Family {
    const key = `${name}\u0002${labelNames.join(',')}`;
    let f = this.families.get(key);
    if (!f) this.families.set(key, (f = new Family(this, name, type, labelNames)));
    return f;
  }

  /**
   * Series created since begin(), as (family, key) pairs: one stream's series are admitted together
   * under the cap, all or none, so its families never disagree (requests_total without its
   * histograms).
   */
  pending?: (Family | string)[];

  /** Starts one stream's (or connection report's) admission. */
  begin(): void {
    this.pending = [];
  }

  /** Admits every series created since begin(), or removes them all and counts each as dropped. */
  commit(): boolean {
    const p = this.pending!;
    this.pending = undefined;
    const n = p.length / 2;
    if (n === 0) return true;
    if (this.total + n <= this.maxSeries) {
      this.total += n;
      return true;
    }
    for (let i = 0; i < p.length; i += 2) (p[i] as Family).series.delete(p[i + 1] as string);
    this.dropped += n;
    return false;
  }

  admit(): boolean {
    if (this.total >= this.maxSeries) {
      this.dropped++;
      return false;
    }
    this.total++;
    return true;
  }

  get seriesCount(): number {
    return this.total;
  }

  snapshot(): LabelledSnapshot {
    const families: Record<string, LabelledFamilySnapshot> = {};
    for (const [name, f] of this.families) {
      if (f.series.size === 0) continue;
      // keyed by name + label names; the metric's name is f.name
      const series: LabelledFamilySnapshot['series'] = [];
      for (const s of f.series.values()) series.push(s.counts ? { labels: s.labels, value: 0, counts: Array.from(s.counts), sum: s.sum, count: s.count } : { labels: s.labels, value: s.value });
      families[name] = { name: f.name, type: f.type, labelNames: f.labelNames, series };
    }
    return { families, dropped: this.dropped };
  }
}

function sameLabels(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function envMaxSeries(): number {
  const v = Number(process.env.TSMESH_ISTIO_MAX_SERIES);
  return Number.isInteger(v) && v > 0 ? v : DEFAULT_MAX_SERIES;
}

const registries = new WeakMap<object, LabelledRegistry>();

/**
 * The registry of the process whose stats store is `stats` (the FactoryContext's): filters of
 * every listener share it, and the store's snapshot carries it to the primary.
 */
export function labelledRegistry(stats: Stats): LabelledRegistry {
  const holder = stats as Stats & { labelled?: LabelledRegistry };
  // The process's StatsStore declares `labelled`, so its snapshots carry the series.
  if ('labelled' in holder) return (holder.labelled ??= new LabelledRegistry());
  let r = registries.get(stats);
  if (!r) registries.set(stats, (r = new LabelledRegistry()));
  return r;
}

/** Sums workers' snapshots series by series (same family and label values). */
export function mergeLabelled(snaps: (LabelledSnapshot | undefined)[]): LabelledSnapshot | undefined {
  const present = snaps.filter((s): s is LabelledSnapshot => !!s);
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  const out: LabelledSnapshot = { families: {}, dropped: 0 };
  const index = new Map<string, Map<string, LabelledFamilySnapshot['series'][number]>>();
  for (const s of present) {
    out.dropped += s.dropped;
    for (const [name, f] of Object.entries(s.families)) {
      let of = out.families[name];
      if (!of || !sameLabels(of.labelNames, f.labelNames)) {
        // Workers between two configs may disagree on a family's labels: the newest shape wins.
        of = out.families[name] = { name: f.name, type: f.type, labelNames: f.labelNames, series: [] };
        index.set(name, new Map());
      }
      const idx = index.get(name)!;
      for (const sr of f.series) {
        const k = sr.labels.join(KEY_SEP);
        const cur = idx.get(k);
        if (!cur) {
          const copy = { ...sr, ...(sr.counts ? { counts: [...sr.counts] } : {}) };
          idx.set(k, copy);
          of.series.push(copy);
          continue;
        }
        cur.value += sr.value;
        if (sr.counts && cur.counts) {
          for (let i = 0; i < sr.counts.length; i++) cur.counts[i]! += sr.counts[i]!;
          cur.sum! += sr.sum ?? 0;
          cur.count! += sr.count ?? 0;
        }
      }
    }
  }
  return out;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Bucket bounds as Envoy prints them: 1.8e+06, not 1800000. */
function fmt(n: number): string {
  return n >= 1e6 ? n.toExponential().replace(/e\+(\d)$/, 'e+0$1') : String(n);
}

/** Prometheus text exposition of the labelled families (sorted by name), plus the drop counter. */
export function renderLabelledPrometheus(s: LabelledSnapshot | undefined): string {
  if (!s) return '';
  const out: string[] = [];
  let last = '';
  for (const key of Object.keys(s.families).sort()) {
    const f = s.families[key]!;
    const name = f.name;
    // One TYPE line per metric name, however many label shapes it has.
    if (name !== last) out.push(`# TYPE ${name} ${f.type}`);
    last = name;
    for (const sr of f.series) {
      const labels = f.labelNames.map((l, i) => `${l}="${escapeLabel(sr.labels[i] ?? '')}"`).join(',');
      if (f.type === 'counter') {
        out.push(`${name}{${labels}} ${sr.value}`);
        continue;
      }
      let cum = 0;
      const sep = labels ? ',' : '';
      for (let i = 0; i < ISTIO_BUCKETS.length; i++) {
        cum += sr.counts![i]!;
        out.push(`${name}_bucket{${labels}${sep}le="${fmt(ISTIO_BUCKETS[i]!)}"} ${cum}`);
      }
      out.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${sr.count}`);
      out.push(`${name}_sum{${labels}} ${sr.sum}`);
      out.push(`${name}_count{${labels}} ${sr.count}`);
    }
  }
  out.push(`# TYPE ${SERIES_DROPPED_METRIC} counter`, `${SERIES_DROPPED_METRIC} ${s.dropped}`);
  return out.join('\n') + '\n';
}
