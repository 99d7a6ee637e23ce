/**
 * The registry source backed by the ConfigStore: Kubernetes Services (and ExternalName aliases),
 * ServiceEntries, WorkloadEntries, WorkloadGroups and Namespaces as read from YAML. It reads the
 * store once, then converts only the resources each store event names: one item per resource,
 * keyed by its config key, so the registry re-reads only what changed.
 */
import { configKey, type Config, type ConfigEvent, type ConfigStore, type Kind } from '../api/types.ts';
import type { Endpoint, Service, Workload } from './model.ts';
import type { RegistrySource, SourceItem } from './source.ts';
import { cleanLabels, type Labels } from './labels.ts';
import { convertKubeService, externalNameEndpoints } from './kubernetes.ts';
import { convertServiceEntry, serviceEntryEndpoints } from './serviceentry.ts';
import { convertWorkloadEntry, workloadGroupTemplate, type GroupTemplate } from './workloadentry.ts';
import { listDeployments, type DeploymentInfo } from './deployments.ts';

const KINDS: ReadonlySet<Kind> = new Set<Kind>(['Service', 'ServiceEntry', 'WorkloadEntry', 'WorkloadGroup', 'Namespace']);
/** Kinds that become items (the others are side tables: group templates, namespace labels). */
const ITEM_KINDS: ReadonlySet<Kind> = new Set<Kind>(['Service', 'ServiceEntry', 'WorkloadEntry']);

export interface ConfigSourceOptions {
  store: ConfigStore;
  /** DNS domain of Kubernetes Service hostnames; default "cluster.local". */
  domain?: string;
  /** Reports a resource that could not be converted (it is skipped, the rest keeps serving). */
  log?: (msg: string) => void;
}

export class ConfigRegistrySource implements RegistrySource {
  readonly name = 'config';
  readonly selectsWorkloads = true;
  readonly domain: string;
  private readonly store: ConfigStore;
  private readonly log: (msg: string) => void;
  /** undefined until first read; then kept current from store events. */
  private items: Map<string, SourceItem> | undefined;
  private sortedKeys: string[] | undefined;
  private lists: { services: Service[]; endpoints: Endpoint[]; workloads: Workload[] } | undefined;
  private groups = new Map<string, GroupTemplate>();
  private namespaces: Map<string, Labels> = new Map();
  /** Keys changed since the last takeChanges(); undefined: everything (nothing taken yet). */
  private pending: Set<string> | undefined;
  private readonly handlers = new Set<() => void>();
  private readonly unwatch: () => void;

  constructor(opts: ConfigSourceOptions) {
    this.store = opts.store;
    this.domain = opts.domain ?? 'cluster.local';
    this.log = opts.log ?? ((m) => console.warn(m));
    this.unwatch = this.store.watch((events) => this.onStoreEvents(events));
  }

  close(): void {
    this.unwatch();
    this.handlers.clear();
  }

  services(): Service[] {
    return this.flat().services;
  }
  endpoints(): Endpoint[] {
    return this.flat().endpoints;
  }
  workloads(): Workload[] {
    return this.flat().workloads;
  }
  namespaceLabels(): ReadonlyMap<string, Labels> {
    this.load();
    return this.namespaces;
  }
  /** The auto-registration template of WorkloadGroup `namespace/name`, if it exists. */
  workloadGroup(namespace: string, name: string): GroupTemplate | undefined {
    this.load();
    return this.groups.get(`${namespace}/${name}`);
  }
  /** Deployments in the store (their pod template labels, service account, named ports). */
  deployments(): DeploymentInfo[] {
    return listDeployments(this.store.list('Deployment'));
  }

  item(key: string): SourceItem | undefined {
    return this.load().get(key);
  }
  itemKeys(): Iterable<string> {
    return this.load().keys();
  }
  takeChanges(): Iterable<string> | undefined {
    this.load();
    const p = this.pending;
    this.pending = new Set();
    return p;
  }

  onChange(handler: () => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  private onStoreEvents(events: ConfigEvent[]): void {
    if (!events.some((e) => KINDS.has(e.config.kind))) return;
    // Not read yet: the first read lists the store as it is then.
    if (this.items) {
      let namespaces: Map<string, Labels> | undefined;
      for (const e of events) {
        const c = e.config;
        if (!KINDS.has(c.kind)) continue;
        const key = configKey(c);
        this.pending?.add(key);
        if (c.kind === 'Namespace') {
          namespaces ??= new Map(this.namespaces);
          if (e.type === 'delete') namespaces.delete(c.metadata.name);
          else namespaces.set(c.metadata.name, cleanLabels(c.metadata.labels) ?? {});
        } else if (c.kind === 'WorkloadGroup') {
          const k = `${c.metadata.namespace}/${c.metadata.name}`;
          if (e.type === 'delete') this.groups.delete(k);
          else this.guard(c, () => this.groups.set(k, workloadGroupTemplate(c)));
        } else {
          const item = e.type === 'delete' ? undefined : this.convert(c);
          if (item) this.items.set(key, item);
          else this.items.delete(key);
          this.sortedKeys = undefined;
          this.lists = undefined;
        }
      }
      // A new Map only when labels changed, so the registry can tell by identity.
      if (namespaces) this.namespaces = namespaces;
    }
    for (const h of [...this.handlers]) h();
  }

  private load(): Map<string, SourceItem> {
    if (this.items) return this.items;
    const items = new Map<string, SourceItem>();
    for (const kind of ITEM_KINDS) {
      for (const cfg of this.store.list(kind)) {
        const item = this.convert(cfg);
        if (item) items.set(configKey(cfg), item);
      }
    }
    for (const cfg of this.store.list('WorkloadGroup')) {
      this.guard(cfg, () => this.groups.set(`${cfg.metadata.namespace}/${cfg.metadata.name}`, workloadGroupTemplate(cfg)));
    }
    for (const cfg of this.store.list('Namespace')) this.namespaces.set(cfg.metadata.name, cleanLabels(cfg.metadata.labels) ?? {});
    this.items = items;
    return items;
  }

  /** One resource as an item; undefined when it cannot be converted (logged) or yields nothing. */
  private convert(cfg: Config): SourceItem | undefined {
    let item: SourceItem | undefined;
    this.guard(cfg, () => {
      if (cfg.kind === 'Service') {
        const svc = convertKubeService(cfg, this.domain);
        item = { services: [svc], endpoints: externalNameEndpoints(cfg, svc), workloads: [] };
      } else if (cfg.kind === 'ServiceEntry') {
        const services = convertServiceEntry(cfg);
        item = { services, endpoints: serviceEntryEndpoints(cfg, services), workloads: [] };
      } else if (cfg.kind === 'WorkloadEntry') {
        const w = convertWorkloadEntry(cfg);
        if (w) item = { services: [], endpoints: [], workloads: [w] };
      }
    });
    return item;
  }

  /** The items concatenated in key order (the non-incremental view). */
  private flat(): { services: Service[]; endpoints: Endpoint[]; workloads: Workload[] } {
    if (this.lists) return this.lists;
    const items = this.load();
    this.sortedKeys ??= [...items.keys()].sort();
    const lists = { services: [] as Service[], endpoints: [] as Endpoint[], workloads: [] as Workload[] };
    for (const k of this.sortedKeys) {
      const it = items.get(k)!;
      lists.services.push(...it.services);
      lists.endpoints.push(...it.endpoints);
      lists.workloads.push(...it.workloads);
    }
    this.lists = lists;
    return lists;
  }

  /** One malformed resource must not take the others down with it. */
  private guard(cfg: Config, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log(`registry: skipping ${cfg.kind} ${cfg.metadata.namespace}/${cfg.metadata.name}: ${(err as Error).message}`);
    }
  }
}
