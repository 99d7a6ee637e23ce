/**
 * Reconnect delays for the ADS client: exponential growth with full jitter, as Envoy's
 * JitteredExponentialBackOffStrategy does (a random delay in [0, min(max, base * 2^n)) ), so a
 * fleet of proxies that lost the control plane together does not come back in lockstep.
 * The random source and the timers are injectable, so tests run in virtual time.
 */

/** Tuning for {@link Backoff}. Defaults follow Envoy's xDS retry (500 ms base, 30 s cap). */
export interface BackoffOptions {
  /** First delay ceiling in ms. Default 500. */
  initialMs?: number;
  /** Upper bound of any delay in ms. Default 30000. */
  maxMs?: number;
  /** Growth factor per failed attempt. Default 2. */
  multiplier?: number;
  /** Returns a number in [0, 1). Default Math.random. */
  random?: () => number;
}

/** The timer functions the client uses; replace them to drive time from a test. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const REAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Exponential backoff with full jitter; `reset()` after a healthy stream. */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #multiplier: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.#initial = opts.initialMs ?? 500;
    this.#max = opts.maxMs ?? 30_000;
    this.#multiplier = opts.multiplier ?? 2;
    this.#random = opts.random ?? Math.random;
    if (!(this.#initial > 0) || !(this.#max >= this.#initial) || !(this.#multiplier >= 1)) {
      throw new RangeError(`invalid backoff: initialMs=${this.#initial} maxMs=${this.#max} multiplier=${this.#multiplier}`);
    }
  }

  /** The delay before the next attempt; each call widens the window until maxMs. */
  next(): number {
    const ceiling = Math.min(this.#max, this.#initial * this.#multiplier ** this.#attempt);
    if (ceiling < this.#max) this.#attempt++;
    return Math.floor(this.#random() * ceiling);
  }

  /** Back to the first window (called once a stream delivered a response). */
  reset(): void {
    this.#attempt = 0;
  }
}
