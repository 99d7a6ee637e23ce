/**
 * A list + watch cache of one resource (client-go's reflector and informer in one small class):
 *   - list (paged), then watch from the list's resourceVersion with bookmarks, so a reconnect
 *     resumes where it left off and replays nothing;
 *   - 410 Gone (the version is too old: compacted, or the API server restarted with a cold watch
 *     cache) relists and diffs the list against the cache, so what changed meanwhile is delivered
 *     once and what did not is not delivered again;
 *   - other errors (API server down, CRD not installed yet) retry with capped exponential backoff;
 *   - a watch that ends cleanly but at once with no events (a server shutting down, a bad load
 *     balancer) counts as a failure and backs off too (client-go's "very short watch");
 *   - a watch that hears nothing, not even a BOOKMARK, for idleTimeoutMs is presumed dead (a
 *     half-open connection whose peer vanished sends no FIN) and reopened from its version;
 *   - an object is delivered only when its resourceVersion differs from the cached one.
 *
 * client-node's own ListWatch is not used: it does not ask for bookmarks and stops for good on
 * the first error other than 410 (see the report in issue 15).
 */
import { KubeApiError, type KubeClient, type WatchHandle } from '../client/client.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string>; generation?: number };
  [k: string]: any;
}

export type InformerEvent<T> = { type: 'add' | 'update'; object: T; old?: T } | { type: 'delete'; object: T };

export interface InformerOptions {
  /** Collection path, e.g. /api/v1/services or /apis/networking.istio.io/v1/virtualservices. */
  path: string;
  /** apiVersion and kind set on listed items (lists leave them out). */
  apiVersion: string;
  kind: string;
  /** Optional label or field selector, added to list and watch. */
  labelSelector?: string;
  fieldSelector?: string;
  log?: (line: string) => void;
  /** Backoff bounds (ms); defaults 200 ms .. 30 s. */
  backoff?: { minMs?: number; maxMs?: number };
  pageSize?: number;
  /**
   * A watch silent this long (ms) is reopened. The API server sends a BOOKMARK about once a
   * minute on an idle watch, so the default, 2.5 minutes, only fires on a dead connection.
   */
  idleTimeoutMs?: number;
}

/** A clean watch end sooner than this with no events is treated as a failure (client-go: 1 s). */
export const SHORT_WATCH_MS = 1000;
const DEFAULT_IDLE_TIMEOUT_MS = 150_000;

/** What to do when a watch ends: reopen it at once, or back off as after an error. */
export function afterWatchEnd(end: { err?: { name?: string } | undefined; lastedMs: number; events: number }): 'resume' | 'backoff' {
  if (end.err) return 'backoff';
  return end.lastedMs < SHORT_WATCH_MS && end.events === 0 ? 'backoff' : 'resume';
}

/** One opened watch; callbacks of a watch that is no longer current are ignored. */
interface WatchState {
  handle?: WatchHandle;
  started: number;
  events: number;
  idle?: NodeJS.Timeout;
}

const key = (o: KubeObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

export class Informer<T extends KubeObject = KubeObject> {
  readonly #client: KubeClient;
  readonly #opts: InformerOptions;
  readonly #cache = new Map<string, T>();
  readonly #handlers = new Set<(events: InformerEvent<T>[]) => void>();
  #rv = '';
  #stopped = true;
  /** Bumped by stop(): a #run from before it must not go on (or open a watch) after it. */
  #gen = 0;
  #watch: WatchState | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #synced = false;
  #syncWaiters: Array<() => void> = [];
  #lastError = '';
  /** How many times the list was read (1 + relists), and watches opened; for tests and /debug. */
  lists = 0;
  watches = 0;

  constructor(client: KubeClient, opts: InformerOptions) {
    this.#client = client;
    this.#opts = opts;
  }

  get kind(): string {
    return this.#opts.kind;
  }

  /** Every cached object, in key order. */
  list(): T[] {
    return [...this.#cache.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#cache.get(namespace ? `${namespace}/${name}` : name);
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves after the first list was delivered. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((r) => this.#syncWaiters.push(r));
  }

  /** Events arrive in batches: a whole (re)list's differences at once, a watch event alone. */
  on(handler: (events: InformerEvent<T>[]) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#run(this.#gen);
  }

  stop(): void {
    this.#stopped = true;
    this.#gen++;
    clearTimeout(this.#timer);
    this.#closeWatch();
    for (const w of this.#syncWaiters.splice(0)) w();
  }

  #closeWatch(): void {
    const w = this.#watch;
    this.#watch = undefined;
    if (!w) return;
    clearTimeout(w.idle);
    w.handle?.abort();
  }

  async #run(gen: number): Promise<void> {
    const stale = () => this.#stopped || gen !== this.#gen;
    if (stale()) return;
    let w: WatchState | undefined;
    try {
      if (!this.#rv) await this.#list(gen);
      if (stale()) return;
      this.watches++;
      w = { started: Date.now(), events: 0 };
      this.#watch = w;
      this.#armIdle(w, gen);
      const handle = await this.#client.watch(
        this.#path(),
        this.#rv,
        (e) => {
          if (this.#watch !== w || !w) return;
          w.events++;
          this.#armIdle(w, gen);
          this.#onWatchEvent(e);
        },
        (err) => {
          if (this.#watch === w && w) this.#onWatchDone(w, gen, err);
        },
      );
      // stop() (or the idle timer) ran while the watch was connecting: end it now, not at the server's timeout.
      if (this.#watch !== w || stale()) {
        handle.abort();
        return;
      }
      w.handle = handle;
    } catch (err) {
      // Only this run's own watch (a newer one may already be running after the idle timer).
      if (w && this.#watch !== w) return;
      if (w) this.#closeWatch();
      if (!stale()) this.#retry(err, gen);
    }
  }

  /** (Re)starts the watch's silence timer: no line for idleTimeoutMs means a dead connection. */
  #armIdle(w: WatchState, gen: number): void {
    clearTimeout(w.idle);
    const ms = this.#opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    w.idle = setTimeout(() => {
      if (this.#watch !== w) return;
      this.#closeWatch();
      this.#retry(new Error(`watch silent for ${ms} ms (no event or bookmark); reopening from resourceVersion ${this.#rv || '(relist)'}`), gen);
    }, ms);
    w.idle.unref();
  }

  #path(extra: Record<string, string> = {}): string {
    const q = new URLSearchParams();
    if (this.#opts.labelSelector) q.set('labelSelector', this.#opts.labelSelector);
    if (this.#opts.fieldSelector) q.set('fieldSelector', this.#opts.fieldSelector);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    const s = q.toString();
    return s ? `${this.#opts.path}?${s}` : this.#opts.path;
  }

  async #list(gen: number): Promise<void> {
    const items: T[] = [];
    let cont = '';
    let rv = '';
    do {
      const page = await this.#client.get<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>(
        this.#path({ limit: String(this.#opts.pageSize ?? 500), ...(cont ? { continue: cont } : {}) }),
      );
      for (const item of page.items ?? []) items.push(this.#cacheable(item));
      cont = page.metadata?.continue ?? '';
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    if (this.#stopped || gen !== this.#gen) return;
    this.lists++;
    const events: InformerEvent<T>[] = [];
    const seen = new Set<string>();
    for (const o of items) {
      const k = key(o);
      seen.add(k);
      const prev = this.#cache.get(k);
      if (!prev) events.push({ type: 'add', object: o });
      else if (prev.metadata.resourceVersion !== o.metadata.resourceVersion) events.push({ type: 'update', object: o, old: prev });
      else continue;
      this.#cache.set(k, o);
    }
    for (const [k, o] of [...this.#cache]) {
      if (seen.has(k)) continue;
      this.#cache.delete(k);
      events.push({ type: 'delete', object: o });
    }
    this.#rv = rv;
    this.#healthy();
    this.#emit(events);
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  #onWatchEvent(e: { type: string; object: any }): void {
    if (this.#stopped) return;
    const o = e.object as T;
    switch (e.type) {
      case 'ERROR': {
        // 410: our version is gone; the stream ends next and #onWatchDone relists.
        if (o && (o as any).code === 410) this.#rv = '';
        else this.#note(`watch error: ${(o as any)?.message ?? JSON.stringify(o)}`);
        return;
      }
      case 'BOOKMARK':
        if (o?.metadata?.resourceVersion) this.#rv = o.metadata.resourceVersion;
        return;
      case 'ADDED':
      case 'MODIFIED': {
        const obj = this.#cacheable(o);
        const k = key(obj);
        const prev = this.#cache.get(k);
        this.#rv = obj.metadata.resourceVersion ?? this.#rv;
        this.#healthy();
        // The same version again (a replay after a reconnect): nothing to deliver.
        if (prev && prev.metadata.resourceVersion === obj.metadata.resourceVersion) return;
        this.#cache.set(k, obj);
        this.#emit([prev ? { type: 'update', object: obj, old: prev } : { type: 'add', object: obj }]);
        return;
      }
      case 'DELETED': {
        const k = key(o);
        const prev = this.#cache.get(k);
        this.#rv = o.metadata?.resourceVersion ?? this.#rv;
        if (!prev) return;
        this.#cache.delete(k);
        this.#emit([{ type: 'delete', object: prev }]);
        return;
      }
    }
  }

  #onWatchDone(w: WatchState, gen: number, err?: Error & { statusCode?: number }): void {
    this.#watch = undefined;
    clearTimeout(w.idle);
    if (this.#stopped || gen !== this.#gen) return;
    if (err && (err.statusCode === 410 || (err as any).code === 410)) this.#rv = '';
    const lastedMs = Date.now() - w.started;
    // The server ended the watch (its timeoutSeconds): resume at once. Ended at once with nothing
    // said: something between us and the server is closing watches, so back off as after an error.
    if (afterWatchEnd({ err, lastedMs, events: w.events }) === 'resume') {
      void this.#run(gen);
      return;
    }
    this.#retry(err ?? new Error(`watch closed by the server after ${lastedMs} ms with no events`), gen);
  }

  #retry(err: unknown, gen: number): void {
    if (this.#stopped || gen !== this.#gen) return;
    if (err instanceof KubeApiError && err.statusCode === 410) this.#rv = '';
    this.#failures++;
    const min = this.#opts.backoff?.minMs ?? 200;
    const max = this.#opts.backoff?.maxMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** Math.min(this.#failures - 1, 20));
    // Jitter: many informers against one restarted API server must not come back in step.
    const wait = Math.round(delay * (0.5 + Math.random() / 2));
    this.#note(`${this.#opts.kind}: ${(err as Error)?.message ?? err}; retrying in ${wait} ms`);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#run(gen), wait);
  }

  /**
   * The object as cached: apiVersion and kind set (lists leave them out), managedFields dropped
   * (nothing reads them, and for cluster-wide Pods and Secrets they are much of the memory; Istio
   * strips them too).
   */
  #cacheable(o: T): T {
    const { managedFields: _unused, ...metadata } = o.metadata as T['metadata'] & { managedFields?: unknown };
    return { ...o, apiVersion: this.#opts.apiVersion, kind: this.#opts.kind, metadata } as T;
  }

  #healthy(): void {
    if (this.#failures > 0 && this.#lastError) this.#opts.log?.(`informer ${this.#opts.kind}: recovered`);
    this.#failures = 0;
    this.#lastError = '';
  }

  /** Logs a problem once until it changes (a down API server is not one line per retry). */
  #note(line: string): void {
    const text = line.replace(/retrying in \d+ ms/, '');
    if (text === this.#lastError) return;
    this.#lastError = text;
    this.#opts.log?.(`informer ${line}`);
  }

  #emit(events: InformerEvent<T>[]): void {
    if (events.length === 0) return;
    for (const h of [...this.#handlers]) {
      try {
        h(events);
      } catch (e) {
        this.#opts.log?.(`informer ${this.#opts.kind}: handler failed: ${(e as Error).stack ?? e}`);
      }
    }
  }
}
