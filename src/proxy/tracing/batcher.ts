/**
 * The bounded span queue both exporters share: spans are batched by count (min_flush_spans) and
 * time (flush interval), at most `maxInFlight` reports are outstanding, and when the collector is
 * dead or slow the queue stops at `maxQueued` and further spans are dropped and counted. Memory
 * stays bounded and the request path never waits on the collector.
 */
import type { Clock, Timer } from '../interfaces.ts';
import type { FinishedSpan } from './span.ts';

export interface BatcherStats {
  spansDropped: { inc(n?: number): void };
  timerFlushed: { inc(n?: number): void };
}

/** Sends one batch; calls done(ok) exactly once, whatever happens. */
export type BatchSender = (spans: FinishedSpan[], done: (ok: boolean) => void) => void;

export interface BatcherOptions {
  /** Flush as soon as this many spans are waiting (Envoy's tracing.zipkin.min_flush_spans: 5). */
  minFlushSpans: number;
  /** Flush what is waiting at least this often (Envoy's flush_interval_ms: 5000). */
  flushIntervalMs: number;
  /** Spans kept while reports are outstanding or failing; beyond this they are dropped. */
  maxQueued: number;
  /** The largest report. */
  maxBatch: number;
  maxInFlight: number;
  clock: Clock;
  stats: BatcherStats;
  send: BatchSender;
}

export class SpanBatcher {
  private queue: FinishedSpan[] = [];
  private timer: Timer | undefined;
  private inFlight = 0;
  private closed = false;
  /** close() waiting for the last report to settle. */
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: BatcherOptions) {}

  /** Queues a span; O(1), never blocks, drops (and counts) when full. */
  add(span: FinishedSpan): void {
    if (this.closed || this.queue.length >= this.o.maxQueued) {
      this.o.stats.spansDropped.inc();
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.o.minFlushSpans) this.flush();
    else this.timer ??= this.o.clock.after(this.o.flushIntervalMs, () => this.onTimer());
  }

  private onTimer(): void {
    this.timer = undefined;
    this.o.stats.timerFlushed.inc();
    this.flush();
  }

  /** Sends what is queued, as far as the in-flight limit allows; the rest waits for a reply. */
  flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.o.maxInFlight) {
      const batch = this.queue.length <= this.o.maxBatch ? this.queue : this.queue.slice(0, this.o.maxBatch);
      this.queue = batch === this.queue ? [] : this.queue.slice(this.o.maxBatch);
      this.inFlight++;
      let settled = false;
      this.o.send(batch, () => {
        if (settled) return;
        settled = true;
        this.inFlight--;
        // Whatever queued up meanwhile goes now, not a whole interval later; once closed, all of it.
        if (this.queue.length >= (this.closed ? 1 : this.o.minFlushSpans)) this.flush();
        this.checkIdle();
      });
    }
    if (this.queue.length > 0 && !this.closed) this.timer ??= this.o.clock.after(this.o.flushIntervalMs, () => this.onTimer());
    else if (this.timer) this.timer.cancel(), (this.timer = undefined);
  }

  /** Spans waiting (not yet handed to a report). */
  get queued(): number {
    return this.queue.length;
  }

  /** Reports outstanding. */
  get pending(): number {
    return this.inFlight;
  }

  /**
   * Stops accepting spans and sends everything queued (proxy shutdown, or the last HCM using the
   * driver is gone); resolves once no report is outstanding. The caller bounds the wait: each
   * report ends by its own timeout at the latest.
   */
  close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.flush();
    return new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  private checkIdle(): void {
    if (this.inFlight === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}
