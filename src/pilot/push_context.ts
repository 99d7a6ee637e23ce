/**
 * Builds the PushContext: one immutable snapshot of configuration plus registry that every
 * proxy's generation reads (Istio's PushContext.InitContext). Pure: no clock, no I/O.
 */
import type { Config, MeshConfig } from '../api/types.ts';
import type { Endpoint, Service, ServiceDiscovery, Workload } from '../registry/model.ts';
import type { PushContext, PushIndex } from './types.ts';
import { cmp, contentHash } from './util.ts';

export interface PushContextInput {
  mesh: MeshConfig;
  configs: Config[];
  registry: ServiceDiscovery;
  /** See PushContext.workloadCertificates. */
  workloadCertificates?: boolean;
}

/** Snapshot config and registry; `version` is a hash of everything that shapes the output. */
export function buildPushContext({ mesh, configs, registry, workloadCertificates }: PushContextInput): PushContext {
  const sortedConfigs = [...configs].sort(configOrder);
  const services = [...registry.services()].sort((a, b) => cmp(a.hostname, b.hostname) || cmp(a.namespace, b.namespace));
  const endpoints = new Map<string, Endpoint[]>();
  for (const svc of services) {
    for (const port of svc.ports) endpoints.set(`${svc.hostname}|${port.port}`, registryEndpoints(registry, svc.hostname, port.port));
  }
  return assemble(mesh, sortedConfigs, services, endpoints, sortedWorkloads(registry), workloadCertificates);
}

/**
 * The PushContext after an endpoint-only change (no config, no Service changed): `prev` with the
 * endpoints of `hostnames` and the workloads read again from the registry. The same as
 * buildPushContext would give, without re-sorting every config and every endpoint list: its
 * cost follows the change, not the mesh. A hostname prev has no Service for is not endpoint-only:
 * callers build in full then.
 */
export function updatePushContextEndpoints(prev: PushContext, registry: ServiceDiscovery, hostnames: Iterable<string>): PushContext {
  const index = pushIndex(prev);
  const endpoints = new Map(prev.endpoints);
  for (const h of hostnames) {
    const svc = index.servicesByHost.get(h);
    if (!svc) throw new Error(`updatePushContextEndpoints: ${h} is not a service of the previous push`);
    // Same keys as before, so the map keeps buildPushContext's order (the version hashes it).
    for (const port of svc.ports) endpoints.set(`${h}|${port.port}`, registryEndpoints(registry, h, port.port));
  }
  return assemble(prev.mesh, prev.configs, prev.services, endpoints, sortedWorkloads(registry), prev.workloadCertificates, index);
}

function registryEndpoints(registry: ServiceDiscovery, hostname: string, port: number): Endpoint[] {
  return [...registry.endpoints(hostname, port)].sort(endpointOrder);
}

function sortedWorkloads(registry: ServiceDiscovery): Workload[] {
  return [...registry.workloads()].sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
}

function assemble(
  mesh: MeshConfig,
  sortedConfigs: Config[],
  services: Service[],
  endpoints: Map<string, Endpoint[]>,
  workloads: Workload[],
  workloadCertificates: boolean | undefined,
  index?: PushIndex,
): PushContext {
  // The version hashes everything (canonical JSON of every config, service and endpoint: a
  // large share of a push at 11,000 resources) and nothing on the push path reads it, so it is
  // computed when first read.
  let version: string | undefined;
  const computeVersion = () =>
    contentHash({
      mesh,
      // origin (file name) does not change what proxies receive.
      configs: sortedConfigs.map((c) => ({ kind: c.kind, metadata: c.metadata, spec: c.spec })),
      services,
      endpoints: [...endpoints.entries()],
      workloads,
      workloadCertificates,
    });
  const push = { mesh, configs: sortedConfigs, services, endpoints, workloads } as PushContext;
  Object.defineProperty(push, 'version', { enumerable: true, configurable: true, get: () => (version ??= computeVersion()) });
  if (workloadCertificates !== undefined) push.workloadCertificates = workloadCertificates;
  // The index reads only configs and services, which an endpoint-only update keeps.
  push.index = index ?? buildIndex(push);
  return push;
}

const cache = new WeakMap<PushContext, PushIndex>();

/** The push's index, built on first use for contexts that did not come from buildPushContext. */
export function pushIndex(push: PushContext): PushIndex {
  if (push.index) return push.index;
  let idx = cache.get(push);
  if (!idx) {
    idx = buildIndex(push);
    cache.set(push, idx);
  }
  return idx;
}

function buildIndex(push: PushContext): PushIndex {
  const servicesByHost = new Map(push.services.map((s) => [s.hostname, s]));
  const byKind = new Map<string, Config[]>();
  for (const c of [...push.configs].sort(configOrder)) {
    const list = byKind.get(c.kind) ?? [];
    list.push(c);
    byKind.set(c.kind, list);
  }
  const groupByNs = (kind: string): Map<string, Config[]> => {
    const m = new Map<string, Config[]>();
    for (const c of byKind.get(kind) ?? []) {
      const list = m.get(c.metadata.namespace) ?? [];
      list.push(c);
      m.set(c.metadata.namespace, list);
    }
    return m;
  };
  return {
    servicesByHost,
    byKind,
    destinationRulesByNamespace: groupByNs('DestinationRule'),
    sidecarsByNamespace: groupByNs('Sidecar'),
  };
}

/** Istio's precedence: older configs first (creationTimestamp), ties broken by namespace/name. */
export function configOrder(a: Config, b: Config): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  return cmp(ta, tb) || cmp(a.kind, b.kind) || cmp(a.metadata.namespace, b.metadata.namespace) || cmp(a.metadata.name, b.metadata.name);
}

function endpointOrder(a: Endpoint, b: Endpoint): number {
  return cmp(a.address, b.address) || a.port - b.port || cmp(a.workloadName ?? '', b.workloadName ?? '');
}
