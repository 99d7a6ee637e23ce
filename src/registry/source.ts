/**
 * One provider of services, endpoints and workloads behind the aggregate (Istio's
 * serviceregistry.Instance). Built in: config (Kubernetes Services, ServiceEntries,
 * WorkloadEntries from the ConfigStore) and auto-registration (connected proxies). A live
 * Kubernetes source (informers on Services, EndpointSlices, Pods, Namespaces) implements the same
 * interface.
 */
import type { Endpoint, Service, Workload } from './model.ts';
import type { Labels } from './labels.ts';

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
  /** Labels of the namespaces this source knows objects for (for discoverySelectors). */
  namespaceLabels?(): ReadonlyMap<string, Labels>;
  /** Called after the source's content changed; returns an unsubscribe function. */
  onChange(handler: () => void): () => void;
}
