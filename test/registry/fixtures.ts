/**
 * Test helpers: Istio YAML → Config objects with the `yaml` package, and a minimal in-memory
 * ConfigStore that applies changes and tells watchers (the registry's only view of config).
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { Config, ConfigEvent, ConfigStore, Kind } from '../../src/api/types.ts';
import { configKey } from '../../src/api/types.ts';
import { ISTIO_DATA } from '../helpers/istio_data.ts';

export const ISTIO = ISTIO_DATA;
export const BOOKINFO = `${ISTIO}/samples/bookinfo/platform/kube/bookinfo.yaml`;
export const GOOGLE_APIS = `${ISTIO}/samples/bookinfo/networking/egress-rule-google-apis.yaml`;

export function parseYaml(text: string, namespace = 'default'): Config[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS())
    .filter((o) => o && typeof o === 'object' && o.kind)
    .map((o) => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata: { ...o.metadata, namespace: o.metadata?.namespace ?? namespace },
      spec: o.spec ?? {},
    }));
}

export function loadYaml(file: string, namespace = 'default'): Config[] {
  return parseYaml(readFileSync(file, 'utf8'), namespace);
}

export class MemoryStore implements ConfigStore {
  private readonly items = new Map<string, Config>();
  private readonly watchers = new Set<(events: ConfigEvent[]) => void>();

  constructor(initial: Config[] = []) {
    for (const c of initial) this.items.set(configKey(c), c);
  }

  list(kind: Kind, namespace?: string): Config[] {
    return [...this.items.values()].filter((c) => c.kind === kind && (namespace === undefined || c.metadata.namespace === namespace));
  }
  get(kind: Kind, name: string, namespace: string): Config | undefined {
    return this.items.get(`${kind}/${namespace}/${name}`);
  }
  all(): Config[] {
    return [...this.items.values()];
  }
  watch(handler: (events: ConfigEvent[]) => void): () => void {
    this.watchers.add(handler);
    return () => this.watchers.delete(handler);
  }
  errors() {
    return [];
  }

  /** Adds or replaces each config, then notifies watchers once. */
  apply(...configs: Config[]): void {
    const events: ConfigEvent[] = configs.map((c) => {
      const old = this.items.get(configKey(c));
      this.items.set(configKey(c), c);
      return old ? { type: 'update', config: c, old } : { type: 'add', config: c };
    });
    for (const w of this.watchers) w(events);
  }

  delete(kind: Kind, name: string, namespace: string): void {
    const old = this.items.get(`${kind}/${namespace}/${name}`);
    if (!old) return;
    this.items.delete(configKey(old));
    for (const w of this.watchers) w([{ type: 'delete', config: old, old }]);
  }
}

/** A Config built in code, with the namespace defaulted like the parser does. */
export function cfg(kind: Kind, name: string, spec: any, meta: { namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } = {}): Config {
  const metadata: Config['metadata'] = { name, namespace: meta.namespace ?? 'default' };
  if (meta.labels) metadata.labels = meta.labels;
  if (meta.annotations) metadata.annotations = meta.annotations;
  return { apiVersion: kind === 'Service' || kind === 'Namespace' ? 'v1' : 'networking.istio.io/v1', kind, metadata, spec };
}
