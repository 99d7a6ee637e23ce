/**
 * The control plane's own scrapes of the proxies' Istio metrics, for the dashboard's graph and
 * charts when no Prometheus is configured. Rates need two samples over time, so while someone
 * uses the dashboard (a graph or series request within `idleMs`) every connected proxy's
 * /stats/prometheus is read every `intervalMs`; after that the timer stops and nothing is
 * scraped. Bounded: a few proxies at a time, each answer cut at `maxBytes` and `timeoutMs`, only
 * the four families the graph reads kept, at most `maxSeries` series a round (proxies past it are
 * skipped and counted), and at most `maxRounds` rounds (the charts' history, 10 minutes at 5 s).
 * Series keys and labels are shared between rounds, so history costs about 100 bytes a series a
 * round: 20,000 series x 120 rounds at worst is some 240 MB, Bookinfo's few hundred under 5 MB.
 */
import type { Sample } from '../dashboard/prom_text.ts';
import { snapshotOf, type Round, type Snapshot } from '../dashboard/rates.ts';

export interface ScrapeTarget {
  /** namespace/pod */
  id: string;
  url: string;
}

export interface MeshScraperOptions {
  targets: () => ScrapeTarget[];
  intervalMs?: number;
  idleMs?: number;
  maxRounds?: number;
  timeoutMs?: number;
  maxBytes?: number;
  concurrency?: number;
  maxSeries?: number;
}

export class MeshScraper {
  readonly intervalMs: number;
  readonly #o: Required<Omit<MeshScraperOptions, 'targets'>> & Pick<MeshScraperOptions, 'targets'>;
  readonly #rounds: Round[] = [];
  #intern = new Map<string, Sample & { key: string }>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastUse = 0;
  #running: Promise<void> | undefined;
  #closed = false;
  /** Scrapes that failed (unreachable, too slow, too big), for the UI's status line. */
  failures = 0;

  constructor(o: MeshScraperOptions) {
    this.#o = { intervalMs: 5000, idleMs: 120_000, maxRounds: 120, timeoutMs: 2000, maxBytes: 8 * 1024 * 1024, concurrency: 4, maxSeries: 20_000, ...o };
    this.intervalMs = this.#o.intervalMs;
  }

  /** Someone looked: keep scraping for another idleMs; the first use after a pause scrapes at once. */
  touch(): void {
    if (this.#closed) return;
    this.#lastUse = Date.now();
    if (this.#timer || this.#running) return;
    // Rounds from before a pause would give rates over the pause: start over.
    const last = this.#rounds[this.#rounds.length - 1];
    if (last && Date.now() - last.t > 3 * this.#o.intervalMs) this.#rounds.length = 0;
    this.#tick();
  }

  rounds(): readonly Round[] {
    return this.#rounds;
  }

  /** Resolves once the round in flight (if any) is done. */
  async settled(): Promise<void> {
    await this.#running;
  }

  #tick(): void {
    this.#timer = undefined;
    this.#running = this.#round().finally(() => {
      this.#running = undefined;
      if (this.#closed || Date.now() - this.#lastUse > this.#o.idleMs) return;
      this.#timer = setTimeout(() => this.#tick(), this.#o.intervalMs);
      this.#timer.unref();
    });
  }

  async #round(): Promise<void> {
    const targets = this.#o.targets();
    const round: Round = { t: Date.now(), targets: new Map() };
    // Series no longer scraped would stay interned for ever: start over when it has grown past twice a round.
    if (this.#intern.size > 2 * this.#o.maxSeries) this.#intern = new Map();
    let next = 0;
    let series = 0;
    const worker = async () => {
      while (next < targets.length) {
        const t = targets[next++]!;
        const snap = series < this.#o.maxSeries ? await this.#scrape(t.url, this.#o.maxSeries - series) : undefined;
        if (snap) {
          round.targets.set(t.id, snap);
          series += snap.series.size;
        } else this.failures++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, targets.length) }, worker));
    this.#rounds.push(round);
    if (this.#rounds.length > this.#o.maxRounds) this.#rounds.splice(0, this.#rounds.length - this.#o.maxRounds);
  }

  async #scrape(url: string, maxSeries: number): Promise<Snapshot | undefined> {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.#o.timeoutMs) });
      if (res.status !== 200 || !res.body) return undefined;
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
        size += c.byteLength;
        if (size > this.#o.maxBytes) return undefined;
        chunks.push(c);
      }
      // Stamped when the answer arrived: what the counters were then.
      return snapshotOf(Buffer.concat(chunks).toString('utf8'), Date.now(), maxSeries, this.#intern);
    } catch {
      return undefined;
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
