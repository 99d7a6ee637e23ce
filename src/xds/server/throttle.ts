/**
 * How many connections may have responses on the wire at once (Istio's PILOT_PUSH_THROTTLE,
 * default 100). A response is serialized into its own buffer (megabytes for a thousand-service
 * CDS or EDS) when it is handed to gRPC, and that buffer lives until the client has read it.
 * Handing every connection its response at once kept ~1 GB of them queued at 500 clients; with
 * the throttle, a connection that is not yet admitted keeps only its unserialized responses
 * (arrays of references to the shared, cached Any bytes).
 */

/** A FIFO counting semaphore whose waiters are callbacks (no promise per waiter). */
export class SendThrottle {
  #active = 0;
  /** Waiters in arrival order; cancelled ones become undefined and are skipped. */
  #waiting: Array<(() => void) | undefined> = [];
  #head = 0;

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new Error(`send throttle must be at least 1, got ${limit}`);
  }

  /** Slots held now. */
  get active(): number {
    return this.#active;
  }

  /** Waiters not yet granted. */
  get queued(): number {
    let n = 0;
    for (let i = this.#head; i < this.#waiting.length; i++) if (this.#waiting[i]) n++;
    return n;
  }

  /**
   * Calls `grant` once a slot is held for the caller: at once when one is free, else when one is
   * released, in arrival order. Returns a cancel function (a no-op once granted). The holder
   * must call release() exactly once.
   */
  acquire(grant: () => void): () => void {
    this.#skipCancelled();
    if (this.#active < this.limit && this.#head === this.#waiting.length) {
      this.#active++;
      grant();
      return () => {};
    }
    const i = this.#waiting.length;
    this.#waiting.push(grant);
    return () => {
      if (this.#waiting[i] === grant) this.#waiting[i] = undefined;
    };
  }

  release(): void {
    this.#active--;
    while (this.#active < this.limit && this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head];
      this.#waiting[this.#head++] = undefined;
      if (!next) continue;
      this.#active++;
      next();
    }
    this.#skipCancelled();
  }

  #skipCancelled(): void {
    while (this.#head < this.#waiting.length && this.#waiting[this.#head] === undefined) this.#head++;
    if (this.#head === this.#waiting.length && this.#head > 0) {
      // Drained: start over so the array does not grow for the server's life.
      this.#waiting = [];
      this.#head = 0;
    }
  }
}
