/**
 * Merging every source into one deterministic snapshot (Istio's aggregate controller). Pure: the
 * same source contents give the same snapshot, sorted the same way. This is the whole-registry
 * build; the Registry keeps its snapshot current with incremental.ts, which must produce exactly
 * what this produces (test/registry/incremental.test.ts checks it after random changes).
 *
 * Steps:
 *   1. Drop everything in namespaces meshConfig.discoverySelectors does not select.
 *   2. One Service per hostname. When two resources define the same hostname, Istio keeps the
 *      oldest; tsmesh has no reliable creation order for files, so it ranks instead: Kubernetes
 *      (a Service's own `<name>.<ns>.svc` host) over every other registry, then namespace name in
 *      lexical order, then the defining resource's key, then source order. Endpoints are the
 *      winner's: those its source states for that hostname in the winner's namespace (two
 *      ServiceEntries for one host in one namespace pool their endpoints, as in Istio) plus the
 *      workloads its selector picks. Every loser is reported in `conflicts`.
 *   3. Selected workloads become endpoints (see selection.ts) for services of sources that ask for
 *      it; workloads come from all sources, so a ServiceEntry can select a registered proxy.
 *   4. Services without addresses get a VIP from the allocator, when one is configured.
 *   5. Sort: services by hostname then namespace; endpoints by address, port, then workload name.
 *      The same address:port twice in one service port is listed once (first in that order).
 */
import type { MeshConfig } from '../api/types.ts';
import type { Endpoint, Service, Workload } from './model.ts';
import type { RegistrySource } from './source.ts';
import type { Labels } from './labels.ts';
import type { VipAllocator } from './vip.ts';
import { KUBERNETES_REGISTRY } from './kubernetes.ts';
import { NamespaceFilter } from './namespaces.ts';
import { workloadEndpoints } from './selection.ts';
import { canonical } from './canonical.ts';

export interface Conflict {
  hostname: string;
  /** `source` of the Service that was kept (e.g. "Service/default/reviews"). */
  kept: string;
  /** `source` of each definition that lost, in rank order. */
  ignored: string[];
}

export interface RegistrySnapshot {
  /** One per hostname, sorted by hostname then namespace. */
  services: Service[];
  /** Endpoints by `${hostname}|${servicePort}`; every port of every service has an entry. */
  endpoints: Map<string, Endpoint[]>;
  /** Workloads of discovered namespaces, sorted by namespace, name, source. */
  workloads: Workload[];
  conflicts: Conflict[];
  /** Canonical form per hostname of its Service and of its endpoints, for change detection. */
  fingerprints: Map<string, Fingerprint>;
}

/** A hostname's Service and endpoints in canonical form, and its endpoints' service accounts. */
export interface Fingerprint {
  service: string;
  endpoints: string;
  serviceAccounts: string;
}

export interface AggregateOptions {
  mesh?: Pick<MeshConfig, 'discoverySelectors'>;
  vipAllocator?: VipAllocator;
}

export function endpointKey(hostname: string, port: number): string {
  return `${hostname}|${port}`;
}

export interface Candidate {
  svc: Service;
  src: number;
}

export function cmp(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Numeric order for IPv4 addresses (10.0.0.2 before 10.0.0.10); other addresses as text. */
function addressKey(a: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  return m ? m.slice(1).map((o) => o.padStart(3, '0')).join('.') : a;
}

export function compareEndpoints(a: Endpoint, b: Endpoint): number {
  return (
    cmp(addressKey(a.address), addressKey(b.address)) ||
    cmp(a.port, b.port) ||
    cmp(a.servicePortName, b.servicePortName) ||
    cmp(a.workloadName ?? '', b.workloadName ?? '')
  );
}

/** Which definition of a hostname wins: the first in this order. */
export function rank(a: Candidate, b: Candidate): number {
  const ka = a.svc.registry === KUBERNETES_REGISTRY ? 0 : 1;
  const kb = b.svc.registry === KUBERNETES_REGISTRY ? 0 : 1;
  return ka - kb || cmp(a.svc.namespace, b.svc.namespace) || cmp(a.svc.source ?? '', b.svc.source ?? '') || a.src - b.src;
}

export function compareWorkloads(a: Workload, b: Workload): number {
  return cmp(a.namespace, b.namespace) || cmp(a.name, b.name) || cmp(a.source, b.source);
}

/** The service as served: a copy, never the source's object, gets a VIP when it has no address. */
export function withVip(svc: Service, vipAllocator: VipAllocator | undefined): Service {
  if (svc.addresses.length > 0 || !vipAllocator) return svc;
  const vip = vipAllocator(svc);
  return vip ? { ...svc, addresses: [vip] } : svc;
}

/**
 * A service's endpoints per port, in `svc.ports` order: each port's sorted, with the same
 * address:port listed once (the first in that order).
 */
export function portEndpoints(svc: Service, eps: readonly Endpoint[]): Endpoint[][] {
  const perPort: Endpoint[][] = [];
  for (const sp of svc.ports) {
    const list = eps.filter((e) => e.servicePortName === sp.name).sort(compareEndpoints);
    const seen = new Set<string>();
    perPort.push(
      list.filter((e) => {
        const k = `${e.address}|${e.port}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      }),
    );
  }
  return perPort;
}

/**
 * The service accounts per port (what pilot's clusters check as SANs), in a comparable form: an
 * endpoint change that moves them changes clusters too, not only endpoints.
 */
export function serviceAccountsOf(perPort: readonly Endpoint[][]): string {
  return perPort
    .map((eps) => {
      const ids = new Set<string>();
      for (const e of eps) if (e.serviceAccount) ids.add(`${e.namespace}/${e.serviceAccount}`);
      return [...ids].sort().join(',');
    })
    .join('|');
}

export function buildSnapshot(sources: readonly RegistrySource[], opts: AggregateOptions = {}): RegistrySnapshot {
  const nsLabels = new Map<string, Labels>();
  for (const s of sources) for (const [ns, l] of s.namespaceLabels?.() ?? []) nsLabels.set(ns, { ...(nsLabels.get(ns) ?? {}), ...l });
  const filter = new NamespaceFilter(opts.mesh?.discoverySelectors, nsLabels);

  // 1 + 2: candidates per hostname, ranked.
  const byHost = new Map<string, Candidate[]>();
  sources.forEach((s, src) => {
    for (const svc of s.services()) {
      if (!filter.selected(svc.namespace)) continue;
      const list = byHost.get(svc.hostname) ?? [];
      list.push({ svc, src });
      byHost.set(svc.hostname, list);
    }
  });
  const winners: Candidate[] = [];
  const conflicts: Conflict[] = [];
  for (const [hostname, list] of byHost) {
    list.sort(rank);
    winners.push(list[0]!);
    if (list.length > 1) conflicts.push({ hostname, kept: list[0]!.svc.source ?? '', ignored: list.slice(1).map((c) => c.svc.source ?? '') });
  }
  winners.sort((a, b) => cmp(a.svc.hostname, b.svc.hostname) || cmp(a.svc.namespace, b.svc.namespace));
  conflicts.sort((a, b) => cmp(a.hostname, b.hostname));

  const workloads = sources
    .flatMap((s) => s.workloads())
    .filter((w) => filter.selected(w.namespace))
    .sort(compareWorkloads);

  // Source endpoints indexed by source, hostname and namespace, so only the winner's are taken.
  const own = new Map<string, Endpoint[]>();
  sources.forEach((s, src) => {
    for (const ep of s.endpoints()) {
      const k = `${src}|${ep.service}|${ep.namespace}`;
      const list = own.get(k) ?? [];
      list.push(ep);
      own.set(k, list);
    }
  });

  const services: Service[] = [];
  const endpoints = new Map<string, Endpoint[]>();
  const fingerprints = new Map<string, Fingerprint>();
  for (const { svc: original, src } of winners) {
    // 4
    const svc = withVip(original, opts.vipAllocator);
    services.push(svc);

    const eps = [...(own.get(`${src}|${svc.hostname}|${svc.namespace}`) ?? [])];
    if (sources[src]!.selectsWorkloads && svc.selector) for (const w of workloads) eps.push(...workloadEndpoints(svc, w));

    const perHost = portEndpoints(svc, eps);
    svc.ports.forEach((sp, i) => endpoints.set(endpointKey(svc.hostname, sp.port), perHost[i]!));
    fingerprints.set(svc.hostname, { service: canonical(svc), endpoints: canonical(perHost), serviceAccounts: serviceAccountsOf(perHost) });
  }

  return { services, endpoints, workloads, conflicts, fingerprints };
}
