/**
 * The registry pilot reads (Istio's aggregate ServiceDiscovery): config from the ConfigStore,
 * proxies that register themselves, and any extra source (a live Kubernetes source), merged as
 * aggregate.ts defines. A change recomputes only the hostnames it touches (incremental.ts) and
 * fires onChange only if content differs; what changes discovery itself (discoverySelectors,
 * namespace labels, a source added or removed) rebuilds the whole snapshot.
 *
 *   const registry = new Registry({ store, mesh, domain: 'cluster.local' });
 *   const handle = registry.registerProxy({ name: 'reviews-v1-1', namespace: 'default', ip, labels });
 *   registry.endpoints('reviews.default.svc.cluster.local', 9080);
 *   handle.unregister();
 */
import type { ConfigStore, MeshConfig } from '../api/types.ts';
import { selectorMatches } from './labels.ts';
import type { Endpoint, RegistryEvent, Service, ServiceDiscovery, Workload } from './model.ts';
import type { RegistrySource } from './source.ts';
import type { VipAllocator } from './vip.ts';
import type { DeploymentInfo } from './deployments.ts';
import { endpointKey, type Conflict, type RegistrySnapshot } from './aggregate.ts';
import { diffSnapshots } from './diff.ts';
import { ConfigRegistrySource } from './configsource.ts';
import { AutoRegistration, type ProxyRegistration, type RegistrationHandle } from './autoregistration.ts';
import { NamespaceFilter } from './namespaces.ts';
import { IncrementalAggregate } from './incremental.ts';
import type { Labels } from './labels.ts';

export interface RegistryOptions {
  store: ConfigStore;
  /** Only discoverySelectors is read. */
  mesh?: Pick<MeshConfig, 'discoverySelectors'>;
  /** DNS domain of Kubernetes Service hostnames; default "cluster.local". */
  domain?: string;
  /** Gives services without addresses a VIP (see vip.ts); none by default. */
  vipAllocator?: VipAllocator;
  /** More sources, after config and auto-registration (e.g. a live Kubernetes source). */
  sources?: RegistrySource[];
  /** Where problems go (a skipped resource, a throwing onChange handler); default console.warn. */
  log?: (msg: string) => void;
}

export class Registry implements ServiceDiscovery {
  readonly config: ConfigRegistrySource;
  readonly autoRegistration: AutoRegistration;
  private readonly sources: RegistrySource[];
  private readonly unsubscribe = new Map<RegistrySource, () => void>();
  private mesh: Pick<MeshConfig, 'discoverySelectors'> | undefined;
  private readonly vipAllocator: VipAllocator | undefined;
  private readonly log: (msg: string) => void;
  private snap: RegistrySnapshot;
  private byHost = new Map<string, Service>();
  private agg: IncrementalAggregate | undefined;
  /** Set when an update failed half way: the next one starts from a full build. */
  private broken = false;
  private filter: NamespaceFilter | undefined;
  private readonly handlers = new Set<(e: RegistryEvent) => void>();
  /** Events raised while handlers run are delivered after, in order. */
  private readonly queue: RegistryEvent[] = [];
  private dispatching = false;

  constructor(opts: RegistryOptions) {
    this.log = opts.log ?? ((m) => console.warn(m));
    this.mesh = opts.mesh;
    this.vipAllocator = opts.vipAllocator;
    const cfg: { store: ConfigStore; log: (m: string) => void; domain?: string } = { store: opts.store, log: this.log };
    if (opts.domain) cfg.domain = opts.domain;
    this.config = new ConfigRegistrySource(cfg);
    this.autoRegistration = new AutoRegistration((ns, name) => this.config.workloadGroup(ns, name));
    this.sources = [];
    for (const s of [this.config, this.autoRegistration, ...(opts.sources ?? [])]) this.attach(s);
    this.agg = this.build();
    this.snap = this.agg.snapshot();
    this.byHost = new Map(this.snap.services.map((s) => [s.hostname, s]));
  }

  get domain(): string {
    return this.config.domain;
  }

  // ServiceDiscovery

  services(): Service[] {
    return this.snap.services;
  }
  getService(hostname: string): Service | undefined {
    return this.byHost.get(hostname);
  }
  endpoints(hostname: string, port: number): Endpoint[] {
    return this.snap.endpoints.get(endpointKey(hostname, port)) ?? [];
  }
  workloads(): Workload[] {
    return this.snap.workloads;
  }
  onChange(handler: (e: RegistryEvent) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** The current immutable snapshot: services, endpoints by `${hostname}|${port}`, workloads. */
  snapshot(): RegistrySnapshot {
    return this.snap;
  }
  /** Hostnames defined more than once, with the definition kept and those ignored. */
  conflicts(): Conflict[] {
    return this.snap.conflicts;
  }

  /** A connected proxy becomes a workload (and so an endpoint of every Service selecting it). */
  registerProxy(reg: ProxyRegistration): RegistrationHandle {
    return this.autoRegistration.register(reg);
  }

  /** Deployments in the config (pod template labels etc.), for launching their workloads. */
  deployments(): DeploymentInfo[] {
    return this.config.deployments();
  }

  /** Whether discoverySelectors let namespace `ns` contribute. */
  isNamespaceSelected(ns: string): boolean {
    if (!this.filter) {
      const labels = new Map<string, Record<string, string>>();
      for (const s of this.sources) for (const [k, v] of s.namespaceLabels?.() ?? []) labels.set(k, v);
      this.filter = new NamespaceFilter(this.mesh?.discoverySelectors, labels);
    }
    return this.filter.selected(ns);
  }

  /** Whether a Service now selects a workload with these labels in `namespace` (cheap: indexed). */
  selectsWorkload(namespace: string, labels: Labels): boolean {
    return this.agg?.selectsWorkload(namespace, labels) ?? this.snap.services.some((svc) => svc.selector !== undefined && svc.namespace === namespace && selectorMatches(svc.selector, labels));
  }

  addSource(source: RegistrySource): () => void {
    this.attach(source);
    this.rebuild();
    return () => {
      const i = this.sources.indexOf(source);
      if (i < 0) return;
      this.sources.splice(i, 1);
      this.unsubscribe.get(source)?.();
      this.unsubscribe.delete(source);
      this.rebuild();
    };
  }

  /** New mesh config (discoverySelectors may have changed). */
  setMesh(mesh: Pick<MeshConfig, 'discoverySelectors'> | undefined): void {
    this.mesh = mesh;
    this.rebuild();
  }

  /** Stops watching the store and every source. */
  close(): void {
    for (const u of this.unsubscribe.values()) u();
    this.unsubscribe.clear();
    this.config.close();
    this.handlers.clear();
  }

  private attach(s: RegistrySource): void {
    this.sources.push(s);
    this.unsubscribe.set(s, s.onChange(() => this.update(s)));
  }

  private build(): IncrementalAggregate {
    this.filter = undefined;
    return new IncrementalAggregate(this.sources, {
      ...(this.mesh ? { mesh: this.mesh } : {}),
      ...(this.vipAllocator ? { vipAllocator: this.vipAllocator } : {}),
      onChangedKey: (source, key) => {
        // An edited WorkloadGroup is the template of proxies already registered with it.
        if (source === this.config && key.startsWith('WorkloadGroup/')) {
          const [, ns, name] = key.split('/');
          this.autoRegistration.groupChanged(ns!, name!);
        }
      },
    });
  }

  /** One source changed: apply what changed in every source, or rebuild when discovery moved. */
  private update(source: RegistrySource): void {
    if (!this.agg || this.broken) return this.rebuild();
    let event: ReturnType<IncrementalAggregate['update']>;
    try {
      event = this.agg.update(new Set([source]));
    } catch (err) {
      this.broken = true;
      this.log(`registry: update failed, keeping the previous view: ${(err as Error).message}`);
      return;
    }
    if (event === 'rebuild') return this.rebuild();
    this.publish(this.agg.snapshot(), event, this.agg.replaced);
  }

  /** A whole new snapshot (discoverySelectors, namespace labels or the sources changed). */
  private rebuild(): void {
    let agg: IncrementalAggregate;
    try {
      agg = this.build();
    } catch (err) {
      // A source that throws must not lose the last good snapshot.
      this.broken = true;
      this.log(`registry: rebuild failed, keeping the previous view: ${(err as Error).message}`);
      return;
    }
    this.agg = agg;
    this.broken = false;
    const next = agg.snapshot();
    this.publish(next, diffSnapshots(this.snap, next));
  }

  private publish(next: RegistrySnapshot, event: RegistryEvent | undefined, replaced?: readonly string[]): void {
    if (!replaced) this.byHost = new Map(next.services.map((s) => [s.hostname, s]));
    else
      for (const h of replaced) {
        const svc = this.agg!.service(h);
        if (svc) this.byHost.set(h, svc);
        else this.byHost.delete(h);
      }
    this.snap = next;
    if (event) this.emit(event);
  }

  private emit(event: RegistryEvent): void {
    this.queue.push(event);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.queue.length) {
        const e = this.queue.shift()!;
        for (const h of [...this.handlers]) {
          try {
            h(e);
          } catch (err) {
            this.log(`registry: onChange handler threw: ${(err as Error).message}`);
          }
        }
      }
    } finally {
      this.dispatching = false;
    }
  }
}
