/**
 * Collects one upstream response (head, bounded body, trailers) for the check clients, speaking
 * the upstream pools' handler contract (src/proxy/upstream/http1/types.ts). `done` runs exactly
 * once: with the response, or with undefined on a reset, a timeout or a body over the bound.
 */
import type { HeaderMap } from '../../../interfaces.ts';
import type { Http1Handler, Http1Stream } from '../../../upstream/http1/types.ts';

/** Envoy buffers an authorization response in memory; bound it as a 1 MiB message. */
const MAX_BODY = 1 << 20;

export interface Collected {
  status: number;
  headers: HeaderMap;
  body: Buffer;
  trailers: HeaderMap | undefined;
}

export class ResponseCollector implements Http1Handler {
  private stream: Http1Stream | undefined;
  private status = 0;
  private headers: HeaderMap = new Map();
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private finished = false;

  constructor(private readonly onDone: (r: Collected | undefined) => void) {}

  get done(): boolean {
    return this.finished;
  }
  onH1Attach(s: Http1Stream): void {
    this.stream = s;
  }
  onH1Headers(status: number, headers: HeaderMap): void {
    this.status = status;
    this.headers = headers;
  }
  onH1Data(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > MAX_BODY) return this.abort();
    this.chunks.push(chunk);
  }
  onH1Complete(trailers: HeaderMap | undefined): void {
    this.finish({ status: this.status, headers: this.headers, body: Buffer.concat(this.chunks), trailers });
  }
  onH1Error(): void {
    this.finish(undefined);
  }
  onH1Upgrade(_status: number, _headers: HeaderMap, socket: { destroy(): void }): void {
    socket.destroy();
    this.finish(undefined);
  }
  /** Gives up (timeout, cancel): the request is aborted on its connection. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.stream?.abort(this);
    this.onDone(undefined);
  }
  /** Gives up without reporting (the stream that asked is gone). */
  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    this.stream?.abort(this);
  }
  finish(r: Collected | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.onDone(r);
  }
}
