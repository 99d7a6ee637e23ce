/**
 * Time as the demo's code sees it: the system clock in production, a manual one in tests
 * (test/helpers/clock.ts), so that timing decisions (stop deadlines, progress durations,
 * parent watching) are tested without sleeping.
 */

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic enough for durations. */
  now(): number;
  /** Runs `fn` once after `ms`; the timer never keeps the process alive. */
  after(ms: number, fn: () => void): Timer;
  /** Runs `fn` every `ms`; never keeps the process alive. */
  every(ms: number, fn: () => void): Timer;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
  // A sleep is awaited by someone: it keeps the process alive like any pending work.
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};
