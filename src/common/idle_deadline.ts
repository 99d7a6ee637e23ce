/**
 * An idle timeout that activity only has to write a time into: idle_timeout on a connection,
 * per_try_idle_timeout on an attempt.
 *
 * Why not refresh a timer on every request or data event: that is calls into the runtime's timer
 * list per event. Here `touch` stores the clock's time; the one timer fires at the deadline it
 * knew of, and if there was activity since, re-arms for what is left. The owner's `onIdle` runs
 * only when the full duration has passed with no activity.
 */
import type { Clock, Timer } from './clock.ts';

/** setTimeout's largest delay; longer deadlines are reached by re-arming. */
const MAX_DELAY = 0x7fffffff;

export class IdleDeadline {
  readonly #clock: Clock;
  readonly #onIdle: () => void;
  #timer: Timer | undefined;
  /** When the armed timer fires (Infinity: not armed). */
  #at = Infinity;
  #since = 0;
  #ms = 0;

  constructor(clock: Clock, onIdle: () => void) {
    this.#clock = clock;
    this.#onIdle = onIdle;
  }

  /** Idle from now for `ms` (0 or less: never). Arms the timer when none fires by then. */
  start(ms: number): void {
    this.#ms = ms;
    if (ms <= 0) return this.stop();
    const now = this.#clock.now();
    this.#since = now;
    // A timer that fires first re-arms for the rest; one that fires later is too late.
    if (this.#at > now + ms) this.#arm(now + ms, now);
  }

  /** Activity: the deadline moves to now plus the duration given to `start`. */
  touch(): void {
    this.#since = this.#clock.now();
  }

  /** No deadline until the next `start`. */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#at = Infinity;
  }

  get armed(): boolean {
    return this.#timer !== undefined;
  }

  #arm(due: number, now: number): void {
    this.#timer?.cancel();
    this.#at = due;
    this.#timer = this.#clock.after(Math.min(due - now, MAX_DELAY), this.#fire);
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#at = Infinity;
    const now = this.#clock.now();
    const due = this.#since + this.#ms;
    if (due > now) return this.#arm(due, now);
    this.#onIdle();
  };
}
