/**
 * Builds the PushContext: one immutable snapshot of configuration plus registry that every
 * proxy's generation reads (Istio's PushContext.InitContext). Pure: no clock, no I/O.
 */
import type { Config, MeshConfig } from '../api/types.ts';
import type { Endpoint, ServiceDiscovery } from '../registry/model.ts';
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
    for (const port of svc.ports) {
      const eps = [...registry.endpoints(svc.hostname, port.port)].sort(endpointOrder);
      endpoints.set(`${svc.hostname}|${port.port}`, eps);
    }
  }
  const workloads = [...registry.workloads()].sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
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
  push.index = buildIndex(push);
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
