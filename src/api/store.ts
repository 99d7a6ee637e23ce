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

  /** Every served config, sorted by key; the sorted list is kept until the served set changes. */
  all(): Config[] {
    this.#all ??= [...this.served.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s.config);
    return [...this.#all];
  }
  #all: Config[] | undefined;

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
    const events: ConfigEvent[] = [];
    const nextServed = new Map<string, { config: Config; content: string }>();
    for (const [key, config] of next) {
      const prev = this.served.get(key);
      // The same object as served (its file did not change): nothing to compare. Canonical
      // JSON of every resource on every change was most of a one-file change at 11,000.
      if (prev && prev.config === config) {
        nextServed.set(key, prev);
        continue;
      }
      const content = contentOf(config);
      if (!prev) events.push({ type: 'add', config });
      else if (prev.content !== content) events.push({ type: 'update', config, old: prev.config });
      // Unchanged content keeps the old object, so consumers can compare by identity.
      nextServed.set(key, prev && prev.content === content ? prev : { config, content });
    }
    for (const [key, prev] of this.served) if (!next.has(key)) events.push({ type: 'delete', config: prev.config, old: prev.config });
    this.served = nextServed;
    if (events.length > 0) this.#all = undefined;
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
