/**
 * An in-memory ConfigStore: sets of configs are applied or deleted atomically (all or none),
 * after validation. Used by tests and by `tsmesh apply`.
 */
import { StoreBase, type Logger } from './store.ts';
import { configKey, isError, type Config, type ConfigEvent, type Kind, type ValidationError } from './types.ts';
import { CrossValidationCache, type CrossOptions } from './validation/cross.ts';
import { validateConfig } from './validation/index.ts';

export interface MemoryStoreOptions extends CrossOptions {
  logger?: Logger;
}

export interface ApplyResult {
  /** False when any config had an error: then nothing was applied. */
  ok: boolean;
  events: ConfigEvent[];
  /** The problems of the applied set (rejecting errors, or warnings when applied). */
  errors: ValidationError[];
}

export class MemoryConfigStore extends StoreBase {
  private readonly cross: CrossValidationCache;
  private rejected: ValidationError[] = [];

  constructor(opts: MemoryStoreOptions = {}) {
    super(opts.logger ?? (() => {}));
    this.cross = new CrossValidationCache({ domainSuffix: opts.domainSuffix });
  }

  /** Validates every config; applies all of them only if none has an error. */
  apply(configs: readonly Config[]): ApplyResult {
    const errors = configs.flatMap((c) => validateConfig(c));
    if (errors.some(isError)) {
      this.rejected = errors;
      this.refreshErrors([]);
      return { ok: false, events: [], errors };
    }
    const next = new Map([...this.served].map(([k, v]) => [k, v.config]));
    for (const c of configs) next.set(configKey(c), c);
    this.rejected = errors; // warnings only
    const events = this.replaceServed(next);
    this.refreshErrors(events);
    return { ok: true, events, errors };
  }

  /** Removes the named resources (missing ones are ignored). */
  delete(refs: ReadonlyArray<{ kind: Kind; metadata: { name: string; namespace: string } }>): ConfigEvent[] {
    const next = new Map([...this.served].map(([k, v]) => [k, v.config]));
    for (const r of refs) next.delete(configKey(r));
    this.rejected = [];
    const events = this.replaceServed(next);
    this.refreshErrors(events);
    return events;
  }

  private refreshErrors(events: readonly ConfigEvent[]): void {
    this.setErrors([...this.rejected, ...this.cross.update(this.all(), events)]);
  }
}
