/**
 * Secrets by name, from static_resources.secrets and from SDS (Envoy's SecretManager). TLS
 * contexts name secrets through *_sds_secret_config(s); a listener or cluster that names a secret
 * not yet delivered is not warm, and is rebuilt when it arrives (onChange).
 */
import type { EnvoyJson } from '../../xds/types.ts';

export interface SecretEntry {
  resource: EnvoyJson;
  version: string;
  lastUpdated: string;
  isStatic: boolean;
}

export class SecretManager {
  readonly secrets = new Map<string, SecretEntry>();
  private handlers = new Set<(name: string) => void>();

  get(name: string): EnvoyJson | undefined {
    return this.secrets.get(name)?.resource;
  }

  set(name: string, resource: EnvoyJson, version: string, isStatic = false): void {
    this.secrets.set(name, { resource, version, lastUpdated: new Date().toISOString(), isStatic });
    for (const h of this.handlers) h(name);
  }

  remove(name: string): void {
    if (this.secrets.get(name)?.isStatic) return;
    if (this.secrets.delete(name)) for (const h of this.handlers) h(name);
  }

  onChange(handler: (name: string) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
}
