/**
 * The stream idle timeouts of one downstream connection (Envoy's stream_idle_timeout, or the
 * route's idle_timeout), kept with one timer for all its streams.
 *
 * Why not a timer per stream: a node Timeout per stream, refreshed on every headers and data
 * event and cancelled at the end, is two objects and several calls into libuv per request. Here
 * activity only stores the time; the one timer fires at the earliest deadline it knew of, times out the
 * streams that were really idle that long, and re-arms for the next deadline. (The CPU this saves
 * was below what the bench machine's noise lets us see: PERFORMANCE.md, "Tried".)
 */
import type { Clock, Timer } from '../../../common/clock.ts';

export interface IdleStream {
  /** This stream's idle timeout in ms (> 0). */
  readonly idleMs: number;
  /** When the stream last saw activity (clock ms). */
  lastActive: number;
  onIdleTimeout(): void;
  /**
   * The list of watched streams runs through the streams themselves: a Set's delete at every
   * stream's end shrank and regrew its table (two allocations per request). Owned by this class.
   */
  idlePrev: IdleStream | undefined;
  idleNext: IdleStream | undefined;
}

export class StreamIdleTimers {
  readonly #clock: Clock;
  #head: IdleStream | undefined;
  #timer: Timer | undefined;
  /** When the armed timer fires (Infinity: not armed). */
  #at = Infinity;
  #closed = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Starts watching `s` from `s.lastActive`. */
  add(s: IdleStream): void {
    if (this.#closed) return;
    s.idlePrev = undefined;
    s.idleNext = this.#head;
    if (this.#head) this.#head.idlePrev = s;
    this.#head = s;
    this.#arm(s.lastActive + s.idleMs);
  }

  /** The stream ended. The timer stays armed: the next stream on the connection reuses it. */
  remove(s: IdleStream): void {
    const { idlePrev: prev, idleNext: next } = s;
    if (prev) prev.idleNext = next;
    else if (this.#head === s) this.#head = next;
    else return; // not watched (already timed out or removed)
    if (next) next.idlePrev = prev;
    s.idlePrev = s.idleNext = undefined;
  }

  /** The connection closed. */
  close(): void {
    this.#closed = true;
    for (let s = this.#head; s; ) {
      const next = s.idleNext;
      s.idlePrev = s.idleNext = undefined;
      s = next;
    }
    this.#head = undefined;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #arm(at: number): void {
    if (at >= this.#at) return;
    this.#timer?.cancel();
    this.#at = at;
    this.#timer = this.#clock.after(Math.max(0, at - this.#clock.now()), this.#sweep);
  }

  readonly #sweep = (): void => {
    this.#timer = undefined;
    this.#at = Infinity;
    const now = this.#clock.now();
    let next = Infinity;
    for (let s = this.#head; s; ) {
      const at = s.lastActive + s.idleMs;
      if (at > now) {
        if (at < next) next = at;
        s = s.idleNext;
        continue;
      }
      this.remove(s);
      s.onIdleTimeout();
      if (this.#closed) return;
      // The timeout may have ended other streams: walk again from the start (timed-out ones are gone).
      next = Infinity;
      s = this.#head;
    }
    if (next !== Infinity && !this.#closed) this.#arm(next);
  };
}
