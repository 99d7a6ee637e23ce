/**
 * undici's legacy dispatch handler (onConnect / onHeaders / onData / onComplete / onError /
 * onUpgrade) on top of the native Http1Handler, for callers that still speak it (the shadow
 * writer). The router's UpstreamRequest implements Http1Handler directly and skips this.
 */
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HeaderMap } from '../../interfaces.ts';
import type { Http1ResetReason } from './errors.ts';
import type { Http1Handler, Http1Stream } from './types.ts';

export class LegacyHandler implements Http1Handler {
  done = false;
  private stream: Http1Stream | undefined;

  constructor(private readonly h: Dispatcher.DispatchHandler) {}

  onH1Attach(s: Http1Stream): void {
    this.stream = s;
    this.h.onConnect?.((_err?: Error) => {
      if (this.done) return;
      this.done = true;
      s.abort(this);
    });
  }

  onH1Headers(status: number, headers: HeaderMap): void {
    const go = this.h.onHeaders?.(status, flat(headers) as unknown as Buffer[], () => this.stream?.resume(this), '');
    if (go === false) this.stream?.pause(this);
  }

  onH1Data(chunk: Buffer): void {
    if (this.h.onData?.(chunk) === false) this.stream?.pause(this);
  }

  onH1Complete(trailers: HeaderMap | undefined): void {
    this.done = true;
    this.h.onComplete?.(trailers ? flat(trailers) : []);
  }

  onH1Error(_reason: Http1ResetReason, err: Error): void {
    this.done = true;
    this.h.onError?.(err);
  }

  onH1Upgrade(status: number, headers: HeaderMap, socket: Duplex): void {
    this.done = true;
    if (this.h.onUpgrade) this.h.onUpgrade(status, flat(headers), socket);
    else socket.destroy();
  }
}

function flat(h: HeaderMap): string[] {
  const out: string[] = [];
  for (const [k, v] of h) {
    if (typeof v === 'string') out.push(k, v);
    else for (const x of v) out.push(k, x);
  }
  return out;
}
