/**
 * The one manual Clock (src/common/clock.ts) for tests, proxy and demo alike: time moves only
 * when the test says so. `advance(ms)` runs every timer and sleep due by then, in time order,
 * letting promise callbacks and queued I/O run between them.
 */
import type { Clock, Timer } from '../../src/common/clock.ts';

interface Pending {
  at: number;
  ms: number;
  fn: () => void;
  every?: number;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private readonly pending = new Set<Pending>();

  constructor(private t = 1_000_000) {}

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): Timer {
    return this.add({ at: this.t + ms, ms, fn, cancelled: false });
  }

  every(ms: number, fn: () => void): Timer {
    const step = Math.max(1, ms);
    return this.add({ at: this.t + step, ms: step, fn, every: step, cancelled: false });
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.after(ms, r));
  }

  /** Timers not yet fired or cancelled. */
  get size(): number {
    return this.pending.size;
  }

  /** Moves time forward by `ms`, firing what falls due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: Pending | undefined;
      for (const p of this.pending) if (p.at <= end && (!next || p.at < next.at)) next = p;
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      if (next.every) next.at += next.every;
      else this.pending.delete(next);
      next.fn();
    }
    this.t = end;
    await settle();
  }

  private add(p: Pending): Timer {
    this.pending.add(p);
    return {
      cancel: () => void this.pending.delete(p),
      refresh: () => {
        p.at = this.t + p.ms;
        this.pending.add(p);
      },
    };
  }
}

/** Lets promise chains (and I/O callbacks already queued) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
