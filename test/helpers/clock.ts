/**
 * A Clock (src/demo/clock.ts) that moves only when the test says so: `advance(ms)` runs every
 * timer and sleep due by then, in time order, letting promise callbacks run between them.
 */
import type { Clock, Timer } from '../../src/demo/clock.ts';

interface Pending {
  at: number;
  fn: () => void;
  every?: number;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private t = 0;
  private readonly pending: Pending[] = [];

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): Timer {
    return this.add({ at: this.t + ms, fn, cancelled: false });
  }

  every(ms: number, fn: () => void): Timer {
    return this.add({ at: this.t + ms, fn, every: Math.max(1, ms), cancelled: false });
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.after(ms, r));
  }

  /** Moves time forward by `ms`, firing what falls due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const next = this.pending.filter((p) => !p.cancelled && p.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      if (next.every) next.at += next.every;
      else next.cancelled = true;
      next.fn();
    }
    this.t = end;
    await settle();
  }

  private add(p: Pending): Timer {
    this.pending.push(p);
    return { cancel: () => (p.cancelled = true) };
  }
}

/** Lets promise chains (and I/O callbacks already queued) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
