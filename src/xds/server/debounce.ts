/**
 * Push debouncing, as Istio's PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX: config changes come
 * in bursts (a kubectl apply of 20 objects, an endpoint flapping), and each push costs a
 * generation per proxy shape. Requests are merged until `afterMs` pass without a new one, or
 * `maxMs` after the first, whichever comes first. Pushes never overlap: a burst that settles
 * while a push runs is pushed right after it.
 */
import { REAL_TIMERS, type Timers } from '../client/backoff.ts';

/** Tuning for {@link Debouncer}. */
export interface DebounceOptions {
  /** Quiet period that ends a burst. Default 100 ms (PILOT_DEBOUNCE_AFTER). */
  afterMs?: number;
  /** Longest a request waits while a burst goes on. Default 10 s (PILOT_DEBOUNCE_MAX). */
  maxMs?: number;
  timers?: Timers;
}

/** Merges requests of type T and hands each merged batch to `fire`, one at a time. */
export class Debouncer<T> {
  readonly #afterMs: number;
  readonly #maxMs: number;
  readonly #timers: Timers;
  #pending: T | undefined;
  #merged = 0;
  #quiet: unknown;
  #max: unknown;
  #running: Promise<void> | undefined;
  #ready = false;
  #closed = false;
  /** Batches fired so far, and requests merged into them (for stats and tests). */
  fired = 0;
  requests = 0;

  constructor(
    opts: DebounceOptions,
    private readonly merge: (a: T, b: T) => T,
    private readonly fire: (batch: T, merged: number) => Promise<void>,
  ) {
    this.#afterMs = opts.afterMs ?? 100;
    this.#maxMs = opts.maxMs ?? 10_000;
    this.#timers = opts.timers ?? REAL_TIMERS;
  }

  add(req: T): void {
    if (this.#closed) return;
    this.requests++;
    this.#pending = this.#pending === undefined ? req : this.merge(this.#pending, req);
    this.#merged++;
    if (this.#quiet !== undefined) this.#timers.clearTimeout(this.#quiet);
    this.#quiet = this.#timers.setTimeout(() => this.#settle(), this.#afterMs);
    this.#max ??= this.#timers.setTimeout(() => this.#settle(), this.#maxMs);
  }

  /** Resolves when nothing is pending or running (for tests and orderly shutdown). */
  async idle(): Promise<void> {
    while (this.#running || (this.#ready && this.#pending !== undefined)) await this.#running;
  }

  close(): void {
    this.#closed = true;
    this.#clear();
    this.#pending = undefined;
  }

  #clear(): void {
    if (this.#quiet !== undefined) this.#timers.clearTimeout(this.#quiet);
    if (this.#max !== undefined) this.#timers.clearTimeout(this.#max);
    this.#quiet = this.#max = undefined;
  }

  #settle(): void {
    this.#clear();
    this.#ready = true;
    this.#flush();
  }

  #flush(): void {
    if (this.#running || this.#closed || !this.#ready || this.#pending === undefined) return;
    const batch = this.#pending;
    const merged = this.#merged;
    this.#pending = undefined;
    this.#merged = 0;
    this.#ready = false;
    this.fired++;
    this.#running = this.fire(batch, merged)
      .catch(() => {}) // fire reports its own errors; a failed push must not stop later ones
      .finally(() => {
        this.#running = undefined;
        this.#flush();
      });
  }
}
