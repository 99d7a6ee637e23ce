/**
 * CDS for a sidecar: outbound clusters for every visible service, inbound clusters for its own
 * workload, and the fixed passthrough / blackhole clusters (plus, for a NONE-mode HTTP proxy
 * listener under ALLOW_ANY, the dynamic forward proxy cluster). Sorted by name.
 */
import type { NamedResource } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { servicesForProxy } from '../visibility.ts';
import { byName } from '../util.ts';
import { blackHoleCluster, buildInboundClusters, inboundPassthroughCluster, passthroughCluster } from './inbound.ts';
import { buildOutboundClusters } from './outbound.ts';
import { dynamicForwardProxyCluster, usesDynamicForwardProxy } from './dynamic_forward_proxy.ts';
import { egressProxyCluster } from './egress_proxy.ts';
import { tracingClusters } from '../listener/tracing.ts';

export { clusterName, parseClusterName, PASSTHROUGH_CLUSTER, BLACKHOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, DYNAMIC_FORWARD_PROXY_CLUSTER } from './name.ts';
export { hashPolicyFor } from './hash_policy.ts';
export { allowAnyCluster } from './egress_proxy.ts';

/** Every cluster a sidecar needs. Routers (gateways) get the same outbound set, no inbound. */
export function buildClusters(push: PushContext, proxy: Proxy): NamedResource[] {
  const clusters = buildOutboundClusters(push, proxy, servicesForProxy(push, proxy));
  if (proxy.type === 'sidecar') clusters.push(...buildInboundClusters(push, proxy), inboundPassthroughCluster());
  clusters.push(passthroughCluster(), blackHoleCluster());
  if (usesDynamicForwardProxy(push, proxy)) clusters.push(dynamicForwardProxyCluster());
  // Sidecar egressProxy: the catch-all's cluster even when egress hosts hide its service.
  const egress = proxy.type === 'sidecar' ? egressProxyCluster(push, proxy) : undefined;
  if (egress) clusters.push(egress);
  clusters.push(...tracingClusters(push, proxy));
  const seen = new Set<string>();
  return clusters
    .filter((c) => (seen.has(c.name) ? false : (seen.add(c.name), true)))
    .map((c) => ({ name: c.name as string, resource: c }))
    .sort(byName);
}
