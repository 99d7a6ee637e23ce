/**
 * The Kubernetes registry source (Istio's serviceregistry/kube controller): Services and their
 * EndpointSlices from informers become services and endpoints; running Pods become workloads
 * that ServiceEntry workloadSelectors may pick. Endpoints are the EndpointSlice controller's
 * (selectsWorkloads stays false), so a Service's endpoints are exactly what Kubernetes publishes.
 */
import type { Config } from '../../api/types.ts';
import type { Endpoint, Service, Workload } from '../../registry/model.ts';
import type { RegistrySource } from '../../registry/source.ts';
import { convertKubeService, externalNameEndpoints, KUBERNETES_REGISTRY } from '../../registry/kubernetes.ts';
import { cleanLabels } from '../../registry/labels.ts';
import type { KubeClient } from '../client/client.ts';
import type { Informer, InformerEvent, KubeObject } from '../informers/informer.ts';
import { stableStringify } from '../../api/canonical.ts';
import { informerFor, KUBE_RESOURCES } from '../informers/resources.ts';
import { configFromObject } from '../config/convert.ts';
import { endpointsOf, podLocality, type PodLookup } from './endpointslices.ts';

export interface KubeRegistryOptions {
  domain?: string;
  /** Informers shared with other consumers, by kind. */
  informers?: Map<string, Informer>;
  log?: (line: string) => void;
}

export class KubeRegistrySource implements RegistrySource {
  readonly name = KUBERNETES_REGISTRY;
  readonly selectsWorkloads = false;
  readonly informers: Map<'Service' | 'EndpointSlice' | 'Pod' | 'Node', Informer>;
  readonly #domain: string;
  readonly #handlers = new Set<() => void>();
  readonly #unsubscribe: Array<() => void> = [];
  #view: { services: Service[]; endpoints: Endpoint[]; workloads: Workload[] } | undefined;

  constructor(client: KubeClient, opts: KubeRegistryOptions = {}) {
    this.#domain = opts.domain ?? 'cluster.local';
    const get = (kind: 'Service' | 'EndpointSlice' | 'Pod' | 'Node') => opts.informers?.get(kind) ?? informerFor(client, KUBE_RESOURCES[kind], { log: opts.log });
    this.informers = new Map([
      ['Service', get('Service')],
      ['EndpointSlice', get('EndpointSlice')],
      ['Pod', get('Pod')],
      ['Node', get('Node')],
    ]);
    for (const [kind, inf] of this.informers) this.#unsubscribe.push(inf.on((events) => events.some((e) => matters(kind, e)) && this.#changed()));
  }

  start(): void {
    for (const inf of this.informers.values()) inf.start();
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
  }

  close(): void {
    for (const u of this.#unsubscribe.splice(0)) u();
    for (const inf of this.informers.values()) inf.stop();
  }

  services(): Service[] {
    return this.#build().services;
  }
  endpoints(): Endpoint[] {
    return this.#build().endpoints;
  }
  workloads(): Workload[] {
    return this.#build().workloads;
  }
  onChange(handler: () => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  #changed(): void {
    this.#view = undefined;
    for (const h of [...this.#handlers]) h();
  }

  #build(): { services: Service[]; endpoints: Endpoint[]; workloads: Workload[] } {
    if (this.#view) return this.#view;
    const pods = this.informers.get('Pod')!;
    const nodes = this.informers.get('Node')!;
    const lookup: PodLookup = { pod: (ns, name) => pods.get(name, ns), node: (name) => nodes.get(name) };
    const services: Service[] = [];
    const endpoints: Endpoint[] = [];
    for (const o of this.informers.get('Service')!.list()) {
      const cfg: Config = configFromObject(o, 'Service');
      const svc = convertKubeService(cfg, this.#domain);
      services.push(svc);
      endpoints.push(...externalNameEndpoints(cfg, svc));
    }
    const svcs = this.informers.get('Service')!;
    endpoints.push(...endpointsOf(this.informers.get('EndpointSlice')!.list(), (ns, name) => svcs.get(name, ns), this.#domain, lookup));
    const workloads = pods.list().flatMap((p) => podWorkload(p, lookup));
    this.#view = { services, endpoints, workloads };
    return this.#view;
  }
}

/**
 * Whether an event can change what this source produces: node heartbeats and most pod status
 * writes cannot, and recomputing every service for each of them would cost the most where
 * clusters are busiest.
 */
function matters(kind: string, e: InformerEvent<KubeObject>): boolean {
  if (e.type !== 'update' || !e.old) return true;
  if (kind === 'Node') return stableStringify(e.old.metadata.labels ?? {}) !== stableStringify(e.object.metadata.labels ?? {});
  if (kind === 'Pod') return podFacts(e.old) !== podFacts(e.object);
  return true;
}

/** What a pod contributes to endpoints and workloads. */
function podFacts(p: KubeObject): string {
  const ready = (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
  const ports = (p.spec?.containers ?? []).map((c: any) => c.ports ?? []);
  return stableStringify([p.metadata.labels ?? {}, p.spec?.serviceAccountName, p.spec?.nodeName, p.spec?.hostNetwork, p.status?.podIP, p.status?.phase, ready, ports]);
}

/** A running pod with an IP, as a workload (ServiceEntry workloadSelector picks these). */
function podWorkload(pod: KubeObject, lookup: PodLookup): Workload[] {
  const ip = pod.status?.podIP;
  if (typeof ip !== 'string' || !ip || pod.status?.phase !== 'Running' || pod.spec?.hostNetwork) return [];
  const ports: Record<string, number> = {};
  for (const c of pod.spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name && typeof p.containerPort === 'number') ports[p.name] = p.containerPort;
  const ready = (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
  const w: Workload = {
    name: pod.metadata.name,
    namespace: pod.metadata.namespace ?? 'default',
    address: ip,
    labels: cleanLabels(pod.metadata.labels) ?? {},
    serviceAccount: pod.spec?.serviceAccountName ?? 'default',
    locality: podLocality(pod, lookup),
    ports,
    healthy: ready,
    source: `Pod/${pod.metadata.namespace}/${pod.metadata.name}`,
  };
  return [w];
}
