/**
 * One provider of services, endpoints and workloads behind the aggregate (Istio's
 * serviceregistry.Instance). Built in: config (Kubernetes Services, ServiceEntries,
 * WorkloadEntries from the ConfigStore) and auto-registration (connected proxies). A live
 * Kubernetes source (informers on Services, EndpointSlices, Pods, Namespaces) implements the same
 * interface.
 *
 * A source may also be incremental (item, itemKeys, takeChanges): then the registry re-reads only
 * the items that changed (one per resource or registered proxy) instead of the whole source.
 */
import type { Endpoint, Service, Workload } from './model.ts';
import type { Labels } from './labels.ts';

/** One resource's share of a source (a ServiceEntry's services and endpoints, a WorkloadEntry's workload). */
export interface SourceItem {
  readonly services: readonly Service[];
  readonly endpoints: readonly Endpoint[];
  readonly workloads: readonly Workload[];
}

export interface RegistrySource {
  /** Short identifier, used in logs and conflict reports ("config", "autoregistration", "kubernetes"). */
  readonly name: string;
  /**
   * When true, the aggregate computes endpoints for this source's services that have a selector,
   * from every source's workloads (a Service selecting a WorkloadEntry or a registered proxy). A
   * source whose services already carry their endpoints (EndpointSlices) leaves it false.
   */
  readonly selectsWorkloads?: boolean;
  services(): Service[];
  /** Every endpoint this source knows by itself, for all its services. */
  endpoints(): Endpoint[];
  /** Workloads other sources' selectors may pick (pods, WorkloadEntries, registered proxies). */
  workloads(): Workload[];
  /**
   * Labels of the namespaces this source knows objects for (for discoverySelectors). An
   * incremental source returns the same Map object until the labels change.
   */
  namespaceLabels?(): ReadonlyMap<string, Labels>;
  /** Called after the source's content changed; returns an unsubscribe function. */
  onChange(handler: () => void): () => void;
  /**
   * Incremental sources only. The item behind `key`, or undefined when there is none. The items
   * in key order (JavaScript string order), concatenated, are services(), endpoints() and
   * workloads(); an unchanged item is the same object.
   */
  item?(key: string): SourceItem | undefined;
  /** Incremental sources only: every item key. */
  itemKeys?(): Iterable<string>;
  /**
   * Incremental sources only: keys of the items changed since the last call, or undefined when
   * anything may have changed. The registry calls it on each of its updates, whichever source
   * asked for it, so a change a source kept quiet about (a batched registration) is read then.
   * Keys may name things that are not items (a WorkloadGroup, a Namespace). One reader per source.
   */
  takeChanges?(): Iterable<string> | undefined;
}

/** True when the source implements the incremental part of the interface. */
export function isIncremental(s: RegistrySource): s is RegistrySource & Required<Pick<RegistrySource, 'item' | 'itemKeys' | 'takeChanges'>> {
  return typeof s.item === 'function' && typeof s.itemKeys === 'function' && typeof s.takeChanges === 'function';
}
