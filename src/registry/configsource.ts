/**
 * The registry source backed by the ConfigStore: Kubernetes Services (and ExternalName aliases),
 * ServiceEntries, WorkloadEntries, WorkloadGroups and Namespaces as read from YAML. It re-reads the
 * store only when one of those kinds changes.
 */
import type { Config, ConfigEvent, ConfigStore, Kind } from '../api/types.ts';
import type { Endpoint, Service, Workload } from './model.ts';
import type { RegistrySource } from './source.ts';
import { cleanLabels, type Labels } from './labels.ts';
import { convertKubeService, externalNameEndpoints } from './kubernetes.ts';
import { convertServiceEntry, serviceEntryEndpoints } from './serviceentry.ts';
import { convertWorkloadEntry, workloadGroupTemplate, type GroupTemplate } from './workloadentry.ts';
import { listDeployments, type DeploymentInfo } from './deployments.ts';

const KINDS: ReadonlySet<Kind> = new Set<Kind>(['Service', 'ServiceEntry', 'WorkloadEntry', 'WorkloadGroup', 'Namespace']);

interface Built {
  services: Service[];
  endpoints: Endpoint[];
  workloads: Workload[];
  namespaces: Map<string, Labels>;
  groups: Map<string, GroupTemplate>;
}

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
  private built: Built | undefined;
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
    return this.build().services;
  }
  endpoints(): Endpoint[] {
    return this.build().endpoints;
  }
  workloads(): Workload[] {
    return this.build().workloads;
  }
  namespaceLabels(): ReadonlyMap<string, Labels> {
    return this.build().namespaces;
  }
  /** The auto-registration template of WorkloadGroup `namespace/name`, if it exists. */
  workloadGroup(namespace: string, name: string): GroupTemplate | undefined {
    return this.build().groups.get(`${namespace}/${name}`);
  }
  /** Deployments in the store (their pod template labels, service account, named ports). */
  deployments(): DeploymentInfo[] {
    return listDeployments(this.store.list('Deployment'));
  }

  onChange(handler: () => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  private onStoreEvents(events: ConfigEvent[]): void {
    if (!events.some((e) => KINDS.has(e.config.kind))) return;
    this.built = undefined;
    for (const h of [...this.handlers]) h();
  }

  private build(): Built {
    if (this.built) return this.built;
    const b: Built = { services: [], endpoints: [], workloads: [], namespaces: new Map(), groups: new Map() };
    for (const cfg of this.store.list('Service')) {
      this.guard(cfg, () => {
        const svc = convertKubeService(cfg, this.domain);
        b.services.push(svc);
        b.endpoints.push(...externalNameEndpoints(cfg, svc));
      });
    }
    for (const cfg of this.store.list('ServiceEntry')) {
      this.guard(cfg, () => {
        const svcs = convertServiceEntry(cfg);
        b.services.push(...svcs);
        b.endpoints.push(...serviceEntryEndpoints(cfg, svcs));
      });
    }
    for (const cfg of this.store.list('WorkloadEntry')) {
      this.guard(cfg, () => {
        const w = convertWorkloadEntry(cfg);
        if (w) b.workloads.push(w);
      });
    }
    for (const cfg of this.store.list('WorkloadGroup')) {
      this.guard(cfg, () => b.groups.set(`${cfg.metadata.namespace}/${cfg.metadata.name}`, workloadGroupTemplate(cfg)));
    }
    for (const cfg of this.store.list('Namespace')) {
      b.namespaces.set(cfg.metadata.name, cleanLabels(cfg.metadata.labels) ?? {});
    }
    this.built = b;
    return b;
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
