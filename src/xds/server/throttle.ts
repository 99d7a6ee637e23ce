/**
 * How many connections may have responses on the wire at once (Istio's PILOT_PUSH_THROTTLE,
 * default 100), and how many bytes those responses may hold together. A response is serialized
 * into its own buffer (megabytes for a thousand-service CDS or EDS) when it is handed to gRPC,
 * and that buffer lives until the client has read it. Handing every connection its response at
 * once kept ~1 GB of them queued at 500 clients; 100 connections at once still held 110–460 MB.
 * A connection that is not yet admitted keeps only its unserialized responses (arrays of
 * references to the shared, cached Any bytes). Responses of at most 16 KiB skip the throttle
 * (Connection.#pump): they fit a socket's buffer at once, and queueing them made a small push to
 * a thousand streams take ten rounds of the event loop.
 */

interface Waiter {
  grant: () => void;
  bytes: number;
}

/**
 * A FIFO semaphore over holders and bytes, whose waiters are callbacks (no promise per waiter).
 * A holder is admitted when a slot is free and its bytes fit the budget, or when nothing is held
 * (so a response larger than the whole budget still goes out, alone).
 */
export class SendThrottle {
  #active = 0;
  #bytes = 0;
  /** Waiters in arrival order; cancelled ones become undefined and are skipped. */
  #waiting: Array<Waiter | undefined> = [];
  #head = 0;

  constructor(
    readonly limit: number,
    readonly byteLimit = Infinity,
  ) {
    if (!(limit >= 1)) throw new Error(`send throttle must be at least 1, got ${limit}`);
    if (!(byteLimit > 0)) throw new Error(`send byte budget must be positive, got ${byteLimit}`);
  }

  /** Slots held now. */
  get active(): number {
    return this.#active;
  }

  /** Bytes the holders are charged for now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Waiters not yet granted. */
  get queued(): number {
    let n = 0;
    for (let i = this.#head; i < this.#waiting.length; i++) if (this.#waiting[i]) n++;
    return n;
  }

  /**
   * Calls `grant` once a slot is held for the caller, charged `bytes`: at once when it fits,
   * else when releases make room, in arrival order. Returns a cancel function (a no-op once
   * granted). The holder must call release() exactly once, with what it is charged by then.
   */
  acquire(grant: () => void, bytes = 0): () => void {
    this.#skipCancelled();
    if (this.#head === this.#waiting.length && this.#fits(bytes)) {
      this.#take(bytes);
      grant();
      return () => {};
    }
    const w: Waiter = { grant, bytes };
    const i = this.#waiting.length;
    this.#waiting.push(w);
    return () => {
      if (this.#waiting[i] === w) this.#waiting[i] = undefined;
    };
  }

  /** A holder's next response is larger than what it was admitted with: charged at once. */
  grow(bytes: number): void {
    this.#bytes += bytes;
  }

  release(bytes = 0): void {
    this.#active--;
    this.#bytes -= bytes;
    while (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head];
      if (next && !this.#fits(next.bytes)) break;
      this.#waiting[this.#head++] = undefined;
      if (!next) continue;
      this.#take(next.bytes);
      next.grant();
    }
    this.#skipCancelled();
  }

  #fits(bytes: number): boolean {
    return this.#active === 0 || (this.#active < this.limit && this.#bytes + bytes <= this.byteLimit);
  }

  #take(bytes: number): void {
    this.#active++;
    this.#bytes += bytes;
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
