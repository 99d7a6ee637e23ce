/**
 * The contracts of the upstream HTTP pools, HTTP/1.1 and HTTP/2 alike (the names are the
 * HTTP/1.1 pool's, which came first): what a request's owner implements (callbacks, no promise
 * per request) and what a streaming request body offers.
 */
import type { Duplex } from 'node:stream';
import type { HeaderMap } from '../../interfaces.ts';
import type { Http1ResetReason } from './errors.ts';

/** The connection a request runs on, as its handler sees it. */
export interface Http1Stream {
  /** Aborts the request: an HTTP/1.1 connection is closed (it cannot be reused mid-exchange), an HTTP/2 stream reset. */
  abort(h: Http1Handler): void;
  /** Stops / restarts reading the response (downstream backpressure). */
  pause(h: Http1Handler): void;
  resume(h: Http1Handler): void;
}

/** A request's owner. Exactly one of complete / error / upgrade ends it. */
export interface Http1Handler {
  /** True once the owner gave up on the request: a queued request in this state is dropped. */
  readonly done: boolean;
  /** The request got a connection and is being written. */
  onH1Attach(s: Http1Stream): void;
  /** Final response head, hop-by-hop fields removed. */
  onH1Headers(status: number, headers: HeaderMap): void;
  onH1Data(chunk: Buffer): void;
  onH1Complete(trailers: HeaderMap | undefined): void;
  onH1Error(reason: Http1ResetReason, err: Error): void;
  /**
   * 101 to a requested upgrade: the socket is the owner's now, paused (pipe or resume it), with
   * any bytes that followed the head unshifted into it; upgrade/connection kept in `headers`.
   */
  onH1Upgrade(status: number, headers: HeaderMap, socket: Duplex): void;
}

/** Where a streaming body delivers its chunks. */
export interface BodySink {
  /** Returns false when the sink wants no more until `StreamingBody.pull` is called back. */
  onBodyChunk(chunk: Buffer): boolean;
  onBodyEnd(): void;
}

/** A request body still arriving from downstream (the router's BodySource). */
export interface StreamingBody {
  /** Starts delivery: chunks buffered so far are handed over at once, the rest as they arrive. */
  attach(sink: BodySink): void;
  /** The sink has room again (a drain): more may come. */
  pull(): void;
  /** The sink is gone (request over or aborted): later chunks are dropped. */
  detach(): void;
}

export function isStreamingBody(b: unknown): b is StreamingBody {
  return typeof b === 'object' && b !== null && typeof (b as StreamingBody).attach === 'function';
}

/** The request as the router hands it over. `headers` carries `host`, which HTTP/2 sends as :authority. */
export interface Http1RequestOptions {
  method: string;
  path: string;
  headers?: readonly string[] | HeaderMap | null;
  body?: Buffer | string | StreamingBody | null;
  upgrade?: string | null;
}
