/**
 * A small Prometheus registry (counters, gauges, histograms with labels) rendering the text
 * exposition format 0.0.4. The control plane and the agent use it; neither is on the proxy's
 * request path, so a Map lookup per increment is fine. We keep our own ~100 lines rather than
 * prom-client: it needs nothing prom-client adds (default process metrics, aggregation across
 * workers) and the proxy's own stats (src/proxy/stats) stay the hot-path implementation.
 */

export type Labels = Record<string, string>;

/** One metric family: a name, HELP text, a TYPE and its series keyed by their label set. */
abstract class Family {
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  abstract lines(): string[];
}

/** `{a="x",b="y"}` with values escaped as the exposition format requires; '' without labels. */
export function labelText(labels: Labels | undefined, extra = ''): string {
  const parts = labels ? Object.keys(labels).sort().map((k) => `${k}="${escapeLabel(labels[k]!)}"`) : [];
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Prometheus' number spelling (+Inf, NaN). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export class Counter extends Family {
  readonly type = 'counter';
  readonly #series = new Map<string, number>();
  inc(labels?: Labels, by = 1): void {
    const k = labelText(labels);
    this.#series.set(k, (this.#series.get(k) ?? 0) + by);
  }
  /** Current value of one series (tests and debug). */
  get(labels?: Labels): number {
    return this.#series.get(labelText(labels)) ?? 0;
  }
  lines(): string[] {
    return [...this.#series].map(([l, v]) => `${this.name}${l} ${formatValue(v)}`);
  }
}

/** A gauge set directly, or computed at scrape time by `collect` (connected proxies, services). */
export class Gauge extends Family {
  readonly type = 'gauge';
  readonly #series = new Map<string, number>();
  constructor(
    name: string,
    help: string,
    private readonly collect?: () => Array<[Labels | undefined, number]>,
  ) {
    super(name, help);
  }
  set(labels: Labels | undefined, v: number): void {
    this.#series.set(labelText(labels), v);
  }
  lines(): string[] {
    const out = [...this.#series].map(([l, v]) => `${this.name}${l} ${formatValue(v)}`);
    if (this.collect) for (const [l, v] of this.collect()) out.push(`${this.name}${labelText(l)} ${formatValue(v)}`);
    return out;
  }
}

export class Histogram extends Family {
  readonly type = 'histogram';
  readonly #series = new Map<string, { labels: Labels | undefined; counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help);
  }
  observe(v: number, labels?: Labels): void {
    const k = labelText(labels);
    let s = this.#series.get(k);
    if (!s) this.#series.set(k, (s = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 }));
    const i = this.buckets.findIndex((b) => v <= b);
    if (i >= 0) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }
  /** Observations of one series (tests and debug). */
  count(labels?: Labels): number {
    return this.#series.get(labelText(labels))?.count ?? 0;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const [l, s] of this.#series) {
      let cum = 0;
      this.buckets.forEach((b, i) => {
        cum += s.counts[i]!;
        out.push(`${this.name}_bucket${labelText(s.labels, `le="${formatValue(b)}"`)} ${cum}`);
      });
      out.push(`${this.name}_bucket${labelText(s.labels, 'le="+Inf"')} ${s.count}`);
      out.push(`${this.name}_sum${l} ${formatValue(s.sum)}`);
      out.push(`${this.name}_count${l} ${s.count}`);
    }
    return out;
  }
}

/** The families one endpoint exposes, rendered in registration order. */
export class MetricsRegistry {
  readonly #families: Family[] = [];
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }
  gauge(name: string, help: string, collect?: () => Array<[Labels | undefined, number]>): Gauge {
    return this.#add(new Gauge(name, help, collect));
  }
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }
  #add<F extends Family>(f: F): F {
    this.#families.push(f);
    return f;
  }
  /** Prometheus text exposition 0.0.4: HELP and TYPE once per family, then its series. */
  render(): string {
    let out = '';
    for (const f of this.#families) {
      const lines = f.lines();
      out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
      if (lines.length) out += lines.join('\n') + '\n';
    }
    return out;
  }
}

/** The content type Prometheus expects for the text format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
