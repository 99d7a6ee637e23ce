/**
 * The proxy's real clock (Date.now and node timers) behind the Clock interface, so filters and the
 * connection manager can be driven by a manual clock in tests instead of sleeping.
 */
import type { Clock, Timer } from '../../interfaces.ts';

class NodeTimer implements Timer {
  private t: NodeJS.Timeout;
  constructor(fn: () => void, ms: number) {
    this.t = setTimeout(fn, ms);
  }
  cancel(): void {
    clearTimeout(this.t);
  }
  refresh(): void {
    this.t.refresh();
  }
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => new NodeTimer(fn, ms),
};
