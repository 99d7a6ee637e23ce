/**
 * remote_jwks: the JWKS fetched over HTTP through one of the proxy's own clusters (http_uri.cluster,
 * so through the mesh: its load balancing, TLS and circuit breakers), with http_uri.timeout.
 * Concurrent requests share one fetch; the result is cached for cache_duration (Envoy's default
 * 10 minutes) and fetched again when it expires. A token whose `kid` the cached set does not know
 * triggers one early refetch (at most one per KID_REFETCH_INTERVAL_MS, so a stream of forged
 * kids cannot turn the proxy into a load generator against the JWKS server).
 */
import type { Dispatcher } from 'undici';
import type { Clock, ClusterManager, Stats } from '../../../interfaces.ts';
import type { EnvoyJson } from '../../../../xds/types.ts';
import { durationMs } from '../../../duration.ts';
import { Jwks } from './jwks.ts';

const DEFAULT_CACHE_MS = 600_000;
const DEFAULT_TIMEOUT_MS = 5_000;
const MAX_JWKS_BYTES = 1 << 20;
export const KID_REFETCH_INTERVAL_MS = 10_000;

export class RemoteJwks {
  readonly uri: URL;
  readonly cluster: string;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private jwks: Jwks | undefined;
  private expiresAt = 0;
  private inflight: Promise<Jwks | undefined> | undefined;
  private lastKidRefetch = -Infinity;

  constructor(
    cfg: EnvoyJson,
    private readonly cm: ClusterManager,
    private readonly clock: Clock,
    private readonly stats: { success: ReturnType<Stats['counter']>; failed: ReturnType<Stats['counter']> },
    path: string,
  ) {
    const hu = cfg.http_uri;
    if (!hu || typeof hu.uri !== 'string') throw new Error(`${path}.http_uri.uri: required`);
    try {
      this.uri = new URL(hu.uri);
    } catch {
      throw new Error(`${path}.http_uri.uri: ${JSON.stringify(hu.uri)} is not a URL`);
    }
    if (typeof hu.cluster !== 'string' || !hu.cluster) throw new Error(`${path}.http_uri.cluster: required`);
    if (cfg.async_fetch !== undefined) throw new Error(`${path}.async_fetch: not supported (JWKS are fetched on demand)`);
    if (cfg.retry_policy !== undefined) throw new Error(`${path}.retry_policy: not supported`);
    this.cluster = hu.cluster;
    this.timeoutMs = durationMs(hu.timeout) ?? DEFAULT_TIMEOUT_MS;
    this.cacheMs = durationMs(cfg.cache_duration) ?? DEFAULT_CACHE_MS;
  }

  /** The cached set while fresh, else a fetch (shared with concurrent callers); undefined when it failed. */
  get(): Promise<Jwks | undefined> {
    if (this.jwks && this.clock.now() < this.expiresAt) return Promise.resolve(this.jwks);
    return this.fetch();
  }

  /** A token named a kid the cached set lacks: refetch unless one was done recently. */
  async refetchForKid(): Promise<Jwks | undefined> {
    const now = this.clock.now();
    if (now - this.lastKidRefetch < KID_REFETCH_INTERVAL_MS) return this.jwks;
    this.lastKidRefetch = now;
    return (await this.fetch()) ?? this.jwks;
  }

  private fetch(): Promise<Jwks | undefined> {
    this.inflight ??= this.fetchOnce().then(
      (text) => {
        this.inflight = undefined;
        const jwks = text === undefined ? undefined : Jwks.parse(text);
        if (!jwks) {
          this.stats.failed.inc();
          return undefined;
        }
        this.stats.success.inc();
        this.jwks = jwks;
        this.expiresAt = this.clock.now() + this.cacheMs;
        return jwks;
      },
    );
    return this.inflight;
  }

  /** One GET through the cluster; the body on a 200, else undefined. Never rejects. */
  private fetchOnce(): Promise<string | undefined> {
    const cluster = this.cm.get(this.cluster);
    const host = cluster?.chooseHost({ authority: this.uri.host });
    if (!cluster || !host) return Promise.resolve(undefined);
    const release = cluster.tryAcquire('requests');
    if (!release) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const handler = new FetchHandler((body) => {
        timer.cancel();
        release();
        resolve(body);
      });
      const timer = this.clock.after(this.timeoutMs, () => handler.abort());
      try {
        // Typed loosely on purpose: the handler speaks both pool contracts (see FetchHandler).
        const pool = cluster.httpPool(host) as unknown as { dispatch(o: unknown, h: unknown): unknown };
        pool.dispatch({ method: 'GET', path: `${this.uri.pathname}${this.uri.search}`, headers: ['host', this.uri.host, 'accept', 'application/json'], body: null }, handler);
      } catch {
        handler.finish(undefined);
      }
    });
  }
}

/**
 * Collects one response body (bounded); calls `done` exactly once. It implements both upstream
 * pool handler contracts, undici's DispatchHandler and the raw pools' Http1Handler (onH1*), while
 * the proxy moves from one to the other; only one set is ever called.
 */
class FetchHandler implements Dispatcher.DispatchHandler {
  private abortFn: ((err?: Error) => void) | undefined;
  private stream: { abort(h: unknown): void } | undefined;
  get done(): boolean {
    return this.finished;
  }
  onH1Attach(s: { abort(h: unknown): void }): void {
    this.stream = s;
  }
  onH1Headers(status: number): void {
    this.onHeaders(status);
  }
  onH1Data(chunk: Buffer): void {
    this.onData(chunk);
  }
  onH1Complete(): void {
    this.onComplete();
  }
  onH1Error(): void {
    this.onError();
  }
  onH1Upgrade(_status: number, _headers: unknown, socket: { destroy(): void }): void {
    socket.destroy();
    this.finish(undefined);
  }
  private status = 0;
  private size = 0;
  private readonly chunks: Buffer[] = [];
  private finished = false;
  constructor(private readonly onDone: (body: string | undefined) => void) {}
  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
  }
  onHeaders(status: number): boolean {
    if (status >= 200) this.status = status;
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > MAX_JWKS_BYTES) {
      this.abort();
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }
  onComplete(): void {
    this.finish(this.status === 200 ? Buffer.concat(this.chunks).toString('utf8') : undefined);
  }
  onError(): void {
    this.finish(undefined);
  }
  abort(): void {
    this.abortFn?.(new Error('jwks fetch timeout'));
    if (!this.finished) this.stream?.abort(this);
    this.finish(undefined);
  }
  finish(body: string | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.onDone(body);
  }
}
