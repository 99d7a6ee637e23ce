/**
 * Renders a stats snapshot on scrape only: Envoy's /stats text ("name: value" lines, sorted) and
 * /stats/prometheus (envoy_ prefix, scope tags turned into labels, histograms with cumulative
 * buckets), so Prometheus and istioctl-style tools read tsmesh like Envoy.
 */
import { DEFAULT_BUCKETS, type StatsSnapshot, type StatTag } from './stats_store.ts';
import { renderLabelledPrometheus } from '../istio/metrics_registry.ts';

const QUANTILES = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100];

/** Estimates a quantile from bucket counts (upper bound of the bucket holding it). */
function quantile(counts: number[], total: number, q: number): number {
  const want = (q / 100) * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= want && seen > 0) return DEFAULT_BUCKETS[Math.min(i, DEFAULT_BUCKETS.length - 1)];
  }
  return DEFAULT_BUCKETS[DEFAULT_BUCKETS.length - 1];
}

/** Envoy's /stats text format; `filter` is the ?filter= regex. */
export function renderText(s: StatsSnapshot, filter?: { test(name: string): boolean }): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(s.counters)) lines.push(`${k}: ${v}`);
  for (const [k, v] of Object.entries(s.gauges)) lines.push(`${k}: ${v}`);
  for (const [k, h] of Object.entries(s.histograms)) {
    if (h.count === 0) lines.push(`${k}: No recorded values`);
    else lines.push(`${k}: ${QUANTILES.map((q) => `P${q}(${quantile(h.counts, h.count, q)})`).join(' ')}`);
  }
  const out = filter ? lines.filter((l) => filter.test(l.slice(0, l.indexOf(':')))) : lines;
  out.sort();
  return out.join('\n') + (out.length ? '\n' : '');
}

/** Envoy's /stats?format=json shape: {"stats":[{"name","value"}...]}. */
export function renderJson(s: StatsSnapshot): string {
  const stats: { name: string; value: number }[] = [];
  for (const [name, value] of Object.entries(s.counters)) stats.push({ name, value });
  for (const [name, value] of Object.entries(s.gauges)) stats.push({ name, value });
  stats.sort((a, b) => (a.name < b.name ? -1 : 1));
  return JSON.stringify({ stats });
}

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}
function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function promName(name: string, tag: StatTag | undefined): { metric: string; labels: string } {
  if (tag && name.startsWith(tag.prefix)) {
    return { metric: `envoy_${tag.family}_${sanitize(name.slice(tag.prefix.length))}`, labels: `${tag.label}="${escapeLabel(tag.value)}"` };
  }
  return { metric: `envoy_${sanitize(name)}`, labels: '' };
}

/** Prometheus text exposition 0.0.4, one TYPE line per family. */
export function renderPrometheus(s: StatsSnapshot): string {
  const families = new Map<string, { type: string; lines: string[] }>();
  const add = (metric: string, type: string, line: string) => {
    let f = families.get(metric);
    if (!f) families.set(metric, (f = { type, lines: [] }));
    f.lines.push(line);
  };
  const withLabels = (l: string) => (l ? `{${l}}` : '');
  for (const [k, v] of Object.entries(s.counters)) {
    const { metric, labels } = promName(k, s.tags[k]);
    add(metric, 'counter', `${metric}${withLabels(labels)} ${v}`);
  }
  for (const [k, v] of Object.entries(s.gauges)) {
    const { metric, labels } = promName(k, s.tags[k]);
    add(metric, 'gauge', `${metric}${withLabels(labels)} ${v}`);
  }
  for (const [k, h] of Object.entries(s.histograms)) {
    const { metric, labels } = promName(k, s.tags[k]);
    const sep = labels ? ',' : '';
    let cum = 0;
    for (let i = 0; i < DEFAULT_BUCKETS.length; i++) {
      cum += h.counts[i];
      add(metric, 'histogram', `${metric}_bucket{${labels}${sep}le="${DEFAULT_BUCKETS[i]}"} ${cum}`);
    }
    add(metric, 'histogram', `${metric}_bucket{${labels}${sep}le="+Inf"} ${h.count}`);
    add(metric, 'histogram', `${metric}_sum${withLabels(labels)} ${h.sum}`);
    add(metric, 'histogram', `${metric}_count${withLabels(labels)} ${h.count}`);
  }
  const out: string[] = [];
  for (const name of [...families.keys()].sort()) {
    const f = families.get(name)!;
    out.push(`# TYPE ${name} ${f.type}`, ...f.lines);
  }
  // Istio's standard metrics (istio_*), labelled per series, after Envoy's own as Istio's proxy prints them.
  return out.join('\n') + '\n' + renderLabelledPrometheus(s.labelled);
}
