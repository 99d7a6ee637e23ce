/**
 * Time as tsmesh's code sees it (the proxy's timeouts and delays, the demo's deadlines and
 * progress): the system clock in production, test/helpers/clock.ts's ManualClock in tests, so
 * timing behaviour is tested without sleeping. One interface for the whole codebase.
 */

/** A pending timeout or interval. */
export interface Timer {
  cancel(): void;
  /** Restarts the countdown with the original duration (activity on an idle timer). */
  refresh(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms` unless cancelled; the timer never keeps the process alive. */
  after(ms: number, fn: () => void): Timer;
  /** Runs `fn` every `ms`; never keeps the process alive. */
  every(ms: number, fn: () => void): Timer;
  /** Resolves after `ms`; awaited work keeps the process alive like any pending work. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t), refresh: () => void t.refresh() };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t), refresh: () => void t.refresh() };
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};
