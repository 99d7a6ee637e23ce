/**
 * A list + watch cache of one resource (client-go's reflector and informer in one small class):
 *   - list (paged), then watch from the list's resourceVersion with bookmarks, so a reconnect
 *     resumes where it left off and replays nothing;
 *   - 410 Gone (the version is too old: compacted, or the API server restarted with a cold watch
 *     cache) relists and diffs the list against the cache, so what changed meanwhile is delivered
 *     once and what did not is not delivered again;
 *   - other errors (API server down, CRD not installed yet) retry with capped exponential backoff;
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
}

const key = (o: KubeObject) => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

export class Informer<T extends KubeObject = KubeObject> {
  readonly #client: KubeClient;
  readonly #opts: InformerOptions;
  readonly #cache = new Map<string, T>();
  readonly #handlers = new Set<(events: InformerEvent<T>[]) => void>();
  #rv = '';
  #stopped = true;
  #watch: WatchHandle | undefined;
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
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#watch?.abort();
    this.#watch = undefined;
    for (const w of this.#syncWaiters.splice(0)) w();
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    try {
      if (!this.#rv) await this.#list();
      if (this.#stopped) return;
      this.watches++;
      this.#watch = await this.#client.watch(this.#path(), this.#rv, (e) => this.#onWatchEvent(e), (err) => this.#onWatchDone(err));
    } catch (err) {
      this.#retry(err);
    }
  }

  #path(extra: Record<string, string> = {}): string {
    const q = new URLSearchParams();
    if (this.#opts.labelSelector) q.set('labelSelector', this.#opts.labelSelector);
    if (this.#opts.fieldSelector) q.set('fieldSelector', this.#opts.fieldSelector);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    const s = q.toString();
    return s ? `${this.#opts.path}?${s}` : this.#opts.path;
  }

  async #list(): Promise<void> {
    const items: T[] = [];
    let cont = '';
    let rv = '';
    do {
      const page = await this.#client.get<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>(
        this.#path({ limit: String(this.#opts.pageSize ?? 500), ...(cont ? { continue: cont } : {}) }),
      );
      for (const item of page.items ?? []) items.push({ ...item, apiVersion: this.#opts.apiVersion, kind: this.#opts.kind });
      cont = page.metadata?.continue ?? '';
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    if (this.#stopped) return;
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
        const obj = { ...o, apiVersion: this.#opts.apiVersion, kind: this.#opts.kind } as T;
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

  #onWatchDone(err?: Error & { statusCode?: number }): void {
    this.#watch = undefined;
    if (this.#stopped) return;
    if (err && (err.statusCode === 410 || (err as any).code === 410)) this.#rv = '';
    // The server ended the watch (its timeout) or the client's inactivity timeout: resume at once.
    if (!err || err.name === 'TimeoutError') {
      void this.#run();
      return;
    }
    this.#retry(err);
  }

  #retry(err: unknown): void {
    if (this.#stopped) return;
    if (err instanceof KubeApiError && err.statusCode === 410) this.#rv = '';
    this.#failures++;
    const min = this.#opts.backoff?.minMs ?? 200;
    const max = this.#opts.backoff?.maxMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** Math.min(this.#failures - 1, 20));
    // Jitter: many informers against one restarted API server must not come back in step.
    const wait = Math.round(delay * (0.5 + Math.random() / 2));
    this.#note(`${this.#opts.kind}: ${(err as Error)?.message ?? err}; retrying in ${wait} ms`);
    this.#timer = setTimeout(() => void this.#run(), wait);
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
