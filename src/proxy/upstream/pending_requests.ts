/**
 * A connection pool's FIFO of requests waiting for a connection (Envoy's pending list), shared by
 * the HTTP/1.1 and HTTP/2 pools: two parallel arrays and a head index, so queueing allocates no
 * object per request; the consumed front is dropped when the queue empties, or sliced off once
 * it is most of the arrays.
 */
import type { Http1Handler, Http1RequestOptions } from './http1/types.ts';

export class PendingRequests {
  private opts: (Http1RequestOptions | undefined)[] = [];
  private handlers: (Http1Handler | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.opts.length - this.head;
  }

  push(opts: Http1RequestOptions, h: Http1Handler): void {
    this.opts.push(opts);
    this.handlers.push(h);
  }

  /** Puts a request first in line (one that was already running and is retried). */
  unshift(opts: Http1RequestOptions, h: Http1Handler): void {
    if (this.head > 0) {
      this.head--;
      this.opts[this.head] = opts;
      this.handlers[this.head] = h;
    } else {
      this.opts.unshift(opts);
      this.handlers.unshift(h);
    }
  }

  /** The first request's options and handler; only while size > 0. */
  firstOpts(): Http1RequestOptions {
    return this.opts[this.head]!;
  }
  firstHandler(): Http1Handler {
    return this.handlers[this.head]!;
  }

  /**
   * Takes `h` out of the queue wherever it is (its owner gave up on it: Envoy's cancel); false when
   * it is not queued. Rare and short queues: a linear scan.
   */
  remove(h: Http1Handler): boolean {
    for (let i = this.head; i < this.handlers.length; i++) {
      if (this.handlers[i] !== h) continue;
      if (i === this.head) this.shift();
      else {
        this.opts.splice(i, 1);
        this.handlers.splice(i, 1);
      }
      return true;
    }
    return false;
  }

  /** Drops the first request. */
  shift(): void {
    const i = this.head++;
    this.opts[i] = this.handlers[i] = undefined;
    if (this.head === this.opts.length) {
      // Empty again (the usual case): start over without reallocating.
      this.opts.length = this.handlers.length = this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.opts.length) {
      this.opts = this.opts.slice(this.head);
      this.handlers = this.handlers.slice(this.head);
      this.head = 0;
    }
  }
}
