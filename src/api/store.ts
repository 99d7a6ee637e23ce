/**
 * What the memory and file stores share: the served set, change detection by content (so
 * handlers fire only on real changes), batched watch events and error reporting.
 */
import { configKey, formatValidationError, type Config, type ConfigEvent, type ConfigStore, type Kind, type ValidationError } from './types.ts';

import { stableStringify } from './canonical.ts';

export type Logger = (line: string) => void;

/** Content identity of a config: everything but where it was read from. */
export function contentOf(c: Config): string {
  return stableStringify({ apiVersion: c.apiVersion, kind: c.kind, metadata: c.metadata, spec: c.spec });
}

export { stableStringify };

export abstract class StoreBase implements ConfigStore {
  /** key → served config (and its content string, to compare cheaply). */
  protected served = new Map<string, { config: Config; content: string }>();
  private watchers = new Set<(events: ConfigEvent[]) => void>();
  private errorWatchers = new Set<(errors: ValidationError[]) => void>();
  private currentErrors: ValidationError[] = [];
  private errorsText = '';

  constructor(protected readonly log: Logger) {}

  list(kind: Kind, namespace?: string): Config[] {
    const out: Config[] = [];
    for (const { config } of this.served.values()) {
      if (config.kind === kind && (namespace === undefined || config.metadata.namespace === namespace)) out.push(config);
    }
    return out.sort(byKey);
  }

  get(kind: Kind, name: string, namespace: string): Config | undefined {
    return this.served.get(`${kind}/${namespace}/${name}`)?.config;
  }

  /** Every served config, sorted by key; kept sorted as the served set changes. */
  all(): Config[] {
    return [...this.#sorted.configs];
  }
  /** Served keys and their configs in key order, patched per change (re-sorting 11,000 keys per edit cost more than the edit). */
  #sorted = new SortedConfigs();

  watch(handler: (events: ConfigEvent[]) => void): () => void {
    this.watchers.add(handler);
    return () => this.watchers.delete(handler);
  }

  errors(): ValidationError[] {
    return [...this.currentErrors];
  }

  onErrors(handler: (errors: ValidationError[]) => void): () => void {
    this.errorWatchers.add(handler);
    return () => this.errorWatchers.delete(handler);
  }

  /** Replaces the served set with `next`, emitting one batch of events for what really changed. */
  protected replaceServed(next: Map<string, Config>): ConfigEvent[] {
    const changes = new Map<string, Config | undefined>();
    // The same object as served (its file did not change): nothing to compare.
    for (const [key, config] of next) if (this.served.get(key)?.config !== config) changes.set(key, config);
    for (const key of this.served.keys()) if (!next.has(key)) changes.set(key, undefined);
    return this.updateServed(changes);
  }

  /**
   * Applies `changes` (key -> new config, or undefined to remove) to the served set, emitting
   * one batch of events for what really changed. Keys not named keep what they serve, so a
   * change costs what it touches.
   */
  protected updateServed(changes: ReadonlyMap<string, Config | undefined>): ConfigEvent[] {
    const events: ConfigEvent[] = [];
    const added: string[] = [];
    const removed: string[] = [];
    for (const [key, config] of changes) {
      const prev = this.served.get(key);
      if (!config) {
        if (!prev) continue;
        events.push({ type: 'delete', config: prev.config, old: prev.config });
        this.served.delete(key);
        removed.push(key);
        continue;
      }
      if (prev && prev.config === config) continue;
      // Canonical JSON of every resource on every change was most of a one-file change at 11,000.
      const content = contentOf(config);
      if (!prev) {
        events.push({ type: 'add', config });
        this.served.set(key, { config, content });
        added.push(key);
      } else if (prev.content !== content) {
        events.push({ type: 'update', config, old: prev.config });
        this.served.set(key, { config, content });
        this.#sorted.replace(key, config);
      }
      // Unchanged content keeps the old object, so consumers can compare by identity.
    }
    if (added.length > 0 || removed.length > 0) this.#sorted.addRemove(added, removed, this.served);
    events.sort((a, b) => byKey(a.config, b.config));
    if (events.length > 0) this.emit(events);
    return events;
  }

  private emit(events: ConfigEvent[]): void {
    for (const h of [...this.watchers]) {
      try {
        h(events);
      } catch (e) {
        this.log(`config watch handler failed: ${(e as Error).stack ?? e}`);
      }
    }
  }

  /** Sets the current problem list; logs and notifies only when it changed. */
  protected setErrors(errors: ValidationError[]): void {
    const text = errors.map(formatValidationError).join('\n');
    if (text === this.errorsText) return;
    const before = new Set(this.errorsText ? this.errorsText.split('\n') : []);
    this.errorsText = text;
    this.currentErrors = errors;
    for (const line of text ? text.split('\n') : []) if (!before.has(line)) this.log(line);
    for (const h of [...this.errorWatchers]) {
      try {
        h([...errors]);
      } catch (e) {
        this.log(`config error handler failed: ${(e as Error).stack ?? e}`);
      }
    }
  }
}

function byKey(a: Config, b: Config): number {
  const ka = configKey(a);
  const kb = configKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Keys in ascending order with their configs beside them: binary-searched patches, a full sort only for big batches. */
class SortedConfigs {
  keys: string[] = [];
  configs: Config[] = [];

  replace(key: string, config: Config): void {
    const i = this.indexOf(key);
    if (this.keys[i] === key) this.configs[i] = config;
  }

  addRemove(added: readonly string[], removed: readonly string[], served: ReadonlyMap<string, { config: Config }>): void {
    // Splicing is O(n) per key: past a few dozen, one sort of everything is cheaper.
    if (added.length + removed.length > 64) {
      this.keys = [...served.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      this.configs = this.keys.map((k) => served.get(k)!.config);
      return;
    }
    for (const key of removed) {
      const i = this.indexOf(key);
      if (this.keys[i] === key) {
        this.keys.splice(i, 1);
        this.configs.splice(i, 1);
      }
    }
    for (const key of added) {
      const i = this.indexOf(key);
      this.keys.splice(i, 0, key);
      this.configs.splice(i, 0, served.get(key)!.config);
    }
  }

  /** The first index whose key is not below `key`. */
  private indexOf(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
