/**
 * What the control plane's and the agent's Prometheus endpoints share, on prom-client: the text
 * format's content type, and gauges whose series are read from the running component when
 * Prometheus scrapes (connected proxies, services, certificate expiry) rather than kept current.
 */
import { Counter, Gauge, Registry } from 'prom-client';

export type Labels = Record<string, string>;

/** The text exposition format 0.0.4, which every scraper reads. */
export const PROMETHEUS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * A gauge on `registry` whose series are exactly what `read` returns at scrape time: series no
 * longer returned disappear, and an unlabelled gauge with nothing to report has no series
 * (prom-client would otherwise expose a 0 that reads as a real value).
 */
export function scrapeGauge(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Array<[Labels | undefined, number]>): Gauge {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      mirror(this, labelNames, read(), (l, v) => (l ? this.set(l, v) : this.set(v)));
    },
  });
}

/**
 * A counter another component keeps (the CA counts its own CSRs), mirrored at scrape time.
 * prom-client counters only go up, so each scrape starts from zero and adds the current value.
 */
export function scrapeCounter(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Array<[Labels | undefined, number]>): Counter {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      mirror(this, labelNames, read(), (l, v) => (l ? this.inc(l, v) : this.inc(v)));
    },
  });
}

function mirror(m: Gauge | Counter, labelNames: readonly string[], series: Array<[Labels | undefined, number]>, put: (labels: Labels | undefined, v: number) => void): void {
  let unlabelled = false;
  for (const [labels, v] of series) {
    const l = labels && Object.keys(labels).length ? labels : undefined;
    if (!l) unlabelled = true;
    put(l, v);
  }
  if (!labelNames.length && !unlabelled) m.remove();
}
