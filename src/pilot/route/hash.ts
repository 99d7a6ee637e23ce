/**
 * Consistent-hash load balancing needs a hash policy on the route: Envoy computes the hash in the
 * router, the cluster's ring hash / maglev only consumes it. The policy comes from the
 * DestinationRule (subset and port-level settings override the rule's own).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { destinationRuleFor, trafficPolicyFor } from '../destination_rule.ts';
import type { Proxy, PushContext } from '../types.ts';
import { translateHashPolicy } from './policies.ts';

/** Envoy hash_policy entries for traffic from `proxy` to host/subset/port, or undefined. */
export function routeHashPolicy(push: PushContext, proxy: Proxy, host: string, subset: string | undefined, port: number): EnvoyJson[] | undefined {
  const dr = destinationRuleFor(push, proxy, host);
  if (!dr) return undefined;
  const hp = translateHashPolicy(trafficPolicyFor(dr, port, subset || undefined).loadBalancer?.consistentHash);
  return hp ? [hp] : undefined;
}
