/**
 * One tap session (Envoy's admin /tap streaming a config_id; Linkerd's tap): the events it
 * matches, at most `maxRps` per second (a token bucket), queued up to `maxQueue` while the client
 * reads slower than requests finish. Anything over either bound is dropped and counted, never
 * buffered: a tap can cost the proxy at most `maxQueue` small events of memory, however fast the
 * traffic and however slow the reader.
 */
export interface TapEvent {
  type: 'event';
  /** When the request started (ISO 8601). */
  time: string;
  direction: 'inbound' | 'outbound';
  /** The downstream peer (ip:port) and its SPIFFE identity when mTLS told it. */
  source: string;
  sourceIdentity?: string;
  /** Inbound: the address the request arrived on; outbound: the upstream host picked. */
  destination: string;
  /** The downstream connection (the caller's) was TLS: for inbound, mTLS from the peer; outbound, usually plaintext from the app. */
  tls: boolean;
  method: string;
  authority: string;
  /** The request path; its query string only when the tap asked for it (showQuery). */
  path: string;
  /** 0 when no response was sent (the stream was reset first). */
  status: number;
  latencyMs: number;
  /** Envoy's short response flags (UF, UH, NR, ...); empty when none. */
  responseFlags: string[];
  upstreamCluster?: string;
  requestId?: string;
}

export interface TapMatch {
  /** A path prefix (Linkerd's --path). */
  pathPrefix?: string;
  /** An HTTP method, upper case (Linkerd's --method). */
  method?: string;
  /** Show the query string in event paths (off: signed URLs and ?access_token= stay in the proxy). */
  showQuery?: boolean;
}

export interface TapSessionOptions extends TapMatch {
  /** Events per second let through (Linkerd's --max-rps, default 100). */
  maxRps: number;
  /** Events held while the reader is slow. */
  maxQueue?: number;
  /** ms clock, injectable for tests. */
  now?: () => number;
}

export const DEFAULT_MAX_RPS = 100;
/** The ceiling a client may ask for: beyond it a tap is a load test of the tapped proxy. */
export const MAX_MAX_RPS = 1000;
export const DEFAULT_MAX_QUEUE = 1000;

export class TapSession {
  readonly maxRps: number;
  readonly maxQueue: number;
  private readonly now: () => number;
  private tokens: number;
  private lastRefill: number;
  private readonly queue: TapEvent[] = [];
  /** Matched, but over --max-rps. */
  droppedRate = 0;
  /** Matched and under the rate, but the reader was too slow and the queue full. */
  droppedQueue = 0;
  /** Handed to the reader. */
  sent = 0;
  /** Called when the queue goes from empty to non-empty (the writer drains it). */
  onReadable: () => void = () => undefined;

  constructor(readonly match: TapMatch, o: TapSessionOptions) {
    this.maxRps = Math.min(Math.max(o.maxRps, 0.1), MAX_MAX_RPS);
    this.maxQueue = o.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.now = o.now ?? Date.now;
    // A full bucket of one second: a burst of maxRps, then maxRps per second.
    this.tokens = Math.max(1, this.maxRps);
    this.lastRefill = this.now();
  }

  get dropped(): number {
    return this.droppedRate + this.droppedQueue;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Cheap checks first, so a non-matching request costs two string compares. `path` without its query. */
  matches(method: string, path: string): boolean {
    const m = this.match;
    if (m.method !== undefined && m.method !== method) return false;
    if (m.pathPrefix !== undefined && !path.startsWith(m.pathPrefix)) return false;
    return true;
  }

  /**
   * Offers a matching event (built lazily: nothing is allocated for a dropped one). True when
   * it was queued.
   */
  offer(build: () => TapEvent): boolean {
    if (!this.take()) {
      this.droppedRate++;
      return false;
    }
    if (this.queue.length >= this.maxQueue) {
      this.droppedQueue++;
      return false;
    }
    this.queue.push(build());
    if (this.queue.length === 1) this.onReadable();
    return true;
  }

  /** Takes the queued events (oldest first) for writing. */
  drain(max = Infinity): TapEvent[] {
    const out = max >= this.queue.length ? this.queue.splice(0) : this.queue.splice(0, max);
    this.sent += out.length;
    return out;
  }

  private take(): boolean {
    const t = this.now();
    const elapsed = t - this.lastRefill;
    if (elapsed > 0) {
      this.tokens = Math.min(Math.max(1, this.maxRps), this.tokens + (elapsed / 1000) * this.maxRps);
      this.lastRefill = t;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
