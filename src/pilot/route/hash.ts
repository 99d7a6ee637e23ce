/**
 * Consistent-hash load balancing needs a hash policy on the route: Envoy computes the hash in the
 * router, the cluster's ring hash / maglev only consumes it. The DestinationRule lookup and the
 * translation are the cluster builder's (one place decides what the rule says).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { hashPolicyFor } from '../cluster/hash_policy.ts';
import type { Proxy, PushContext } from '../types.ts';

/** Envoy hash_policy entries for traffic from `proxy` to host/subset/port, or undefined. */
export function routeHashPolicy(push: PushContext, proxy: Proxy, host: string, subset: string | undefined, port: number): EnvoyJson[] | undefined {
  const hp = hashPolicyFor(push, proxy, host, subset || undefined, port);
  return hp.length > 0 ? hp : undefined;
}
