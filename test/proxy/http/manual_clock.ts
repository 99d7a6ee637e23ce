/**
 * A proxy Clock (src/proxy/interfaces.ts) that moves only when the test says so: `advance(ms)`
 * fires, in time order, every timer due by then. Lets timeout and delay tests run without sleeping.
 */
import type { Clock, Timer } from '../../../src/proxy/interfaces.ts';

interface Pending {
  at: number;
  ms: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  private t = 1_000_000;
  private readonly pending = new Set<Pending>();

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): Timer {
    const p: Pending = { at: this.t + ms, ms, fn };
    this.pending.add(p);
    return {
      cancel: () => void this.pending.delete(p),
      refresh: () => {
        p.at = this.t + p.ms;
        this.pending.add(p);
      },
    };
  }

  /** Timers not yet fired or cancelled. */
  get size(): number {
    return this.pending.size;
  }

  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: Pending | undefined;
      for (const p of this.pending) if (p.at <= end && (!next || p.at < next.at)) next = p;
      if (!next) break;
      this.t = next.at;
      this.pending.delete(next);
      next.fn();
    }
    this.t = end;
  }
}
