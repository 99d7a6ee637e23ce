/**
 * The agent's secrets by name (Istio's SecretManager cache): what the SDS server serves. Each
 * set bumps that secret's version, and watchers (the SDS streams) are told which name changed,
 * so a rotation reaches every connected proxy as a push.
 */
import type { EnvoyJson } from '../xds/types.ts';

export interface CachedSecret {
  resource: EnvoyJson;
  /** Changes whenever the content does: the SDS version of this secret. */
  version: string;
}

export class SecretCache {
  readonly #items = new Map<string, CachedSecret>();
  readonly #watchers = new Set<(name: string) => void>();
  #seq = 0;

  get(name: string): CachedSecret | undefined {
    return this.#items.get(name);
  }

  names(): string[] {
    return [...this.#items.keys()].sort();
  }

  /** Stores a secret under its name; a content-identical set is not a new version. */
  set(resource: EnvoyJson): void {
    const name = String(resource.name);
    const prev = this.#items.get(name);
    if (prev && JSON.stringify(prev.resource) === JSON.stringify(resource)) return;
    this.#items.set(name, { resource, version: `${Date.now()}-${++this.#seq}` });
    for (const w of this.#watchers) w(name);
  }

  /** Calls `fn(name)` after each change; returns the unsubscribe function. */
  watch(fn: (name: string) => void): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }
}
