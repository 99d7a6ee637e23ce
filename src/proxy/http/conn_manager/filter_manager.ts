/**
 * Envoy's FilterManager: runs the decoder filters in order and the encoder filters in reverse,
 * and implements StopIteration / continueDecoding(). While a filter holds iteration, later
 * request data and trailers queue here (Envoy buffers them the same way) and are replayed from
 * the filter after the one that stopped. The common case — nobody stops — never touches the queue.
 */
import { FilterStatus, type HeaderMap, type HttpFilter } from '../../interfaces.ts';
import { log } from '../../logger.ts';

const enum Kind {
  Headers,
  Data,
  Trailers,
}

interface Pending {
  kind: Kind;
  /** Index of the first filter still to see this item. */
  from: number;
  chunk?: Buffer;
  end: boolean;
  trailers?: HeaderMap;
}

const NO_FILTERS: readonly HttpFilter[] = Object.freeze([]);

export abstract class FilterManager {
  /** Set once the request headers are decoded (until then, and for streams answered before, none). */
  protected filters: readonly HttpFilter[] = NO_FILTERS;
  /** Index of the filter that returned StopIteration, or -1 while iterating freely. */
  private stoppedAt = -1;
  private queue: Pending[] | undefined;
  private iterating = false;
  requestHeaders!: HeaderMap;
  /** Set once the decoder chain is finished for good (local reply, reset). */
  protected decodingDone = false;

  /** Starts decoder iteration with the request headers. */
  protected runDecodeHeaders(endStream: boolean): void {
    this.process(Kind.Headers, 0, endStream, undefined, undefined);
  }

  protected runDecodeData(chunk: Buffer, endStream: boolean): void {
    if (this.decodingDone) return;
    if (this.stoppedAt >= 0 || this.iterating || (this.queue && this.queue.length)) {
      (this.queue ??= []).push({ kind: Kind.Data, from: 0, chunk, end: endStream });
      if (!this.iterating) this.feedStopped();
      return;
    }
    this.process(Kind.Data, 0, endStream, chunk, undefined);
  }

  protected runDecodeTrailers(trailers: HeaderMap): void {
    if (this.decodingDone) return;
    if (this.stoppedAt >= 0 || this.iterating || (this.queue && this.queue.length)) {
      (this.queue ??= []).push({ kind: Kind.Trailers, from: 0, end: true, trailers });
      if (!this.iterating) this.feedStopped();
      return;
    }
    this.process(Kind.Trailers, 0, true, undefined, trailers);
  }

  /** StreamFilterCallbacks.continueDecoding(): resumes after the stopped filter. */
  continueDecoding(): void {
    if (this.stoppedAt < 0 || this.decodingDone) return;
    this.stoppedAt = -1;
    this.drainQueue();
  }

  private drainQueue(): void {
    while (this.stoppedAt < 0 && !this.decodingDone && this.queue && this.queue.length) {
      const p = this.queue.shift()!;
      this.process(p.kind, p.from, p.end, p.chunk, p.trailers);
    }
  }

  /** Runs one item through the filters from `from`; arguments rather than an object: an item is queued only when a filter stops. */
  private process(kind: Kind, from: number, end: boolean, chunk: Buffer | undefined, trailers: HeaderMap | undefined): void {
    const filters = this.filters;
    this.iterating = true;
    try {
      for (let i = from; i < filters.length; i++) {
        if (this.decodingDone) return;
        const f = filters[i];
        let st: FilterStatus | undefined;
        if (kind === Kind.Headers) st = f.decodeHeaders?.(this.requestHeaders, end);
        else if (kind === Kind.Data) st = f.decodeData?.(chunk!, end);
        else st = f.decodeTrailers?.(trailers!);
        if (st === FilterStatus.StopIteration && i < filters.length - 1) {
          this.stoppedAt = i;
          (this.queue ??= []).unshift({ kind, from: i + 1, chunk, end, trailers });
          break;
        }
      }
    } catch (e) {
      this.onFilterError(e as Error);
      return;
    } finally {
      this.iterating = false;
    }
    if (this.stoppedAt >= 0) {
      this.feedStopped();
      return;
    }
    // Items queued while a filter ran synchronously (e.g. data during decodeHeaders).
    if (this.queue && this.queue.length && this.stoppedAt < 0) this.drainQueue();
  }

  /**
   * A filter stopped on headers that reads the body meanwhile (decodeDataWhileStopped) gets the
   * data and trailers queued behind the headers, through the filters before it first, as in
   * Envoy; the items then wait for the filters after it.
   */
  private feedStopped(): void {
    const at = this.stoppedAt;
    const queue = this.queue;
    if (at < 0 || !queue || this.filters[at]?.decodeDataWhileStopped !== true) return;
    try {
      for (const p of [...queue]) {
        if (p.kind === Kind.Headers || p.from > at) continue;
        for (let i = p.from; i <= at; i++) {
          if (this.decodingDone || this.stoppedAt !== at) return;
          const f = this.filters[i];
          // The stopped filter holds iteration: what the filters up to it return does not resume it.
          if (p.kind === Kind.Data) f.decodeData?.(p.chunk!, p.end);
          else f.decodeTrailers?.(p.trailers!);
          p.from = i + 1;
        }
      }
    } catch (e) {
      this.onFilterError(e as Error);
    }
  }

  /** Runs encoder filters (reverse order) over response headers. Encoder StopIteration is not supported. */
  protected runEncodeHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    const filters = this.filters;
    for (let i = filters.length - 1; i >= 0; i--) {
      const f = filters[i];
      if (f.encodeHeaders && f.encodeHeaders(status, headers, endStream) === FilterStatus.StopIteration) {
        log.warnOnce('http-encode-stop', 'http filter returned StopIteration from encodeHeaders; not supported, continuing');
      }
    }
  }

  /** Ends decoder iteration for good (local reply sent, stream reset): queued items are dropped. */
  protected stopDecoding(): void {
    this.decodingDone = true;
    this.queue = undefined;
  }

  /** A filter threw: the data plane never throws for traffic, so this becomes a 500 / reset. */
  protected abstract onFilterError(e: Error): void;
}
