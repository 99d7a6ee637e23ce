/**
 * The route side of consistent-hash load balancing: clusters pick RING_HASH/MAGLEV, but Envoy
 * takes the hash key from the route's hash_policy. The route builder calls hashPolicyFor.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { destinationRuleFor, trafficPolicyFor } from '../destination_rule.ts';
import { hashPolicyFromLb } from './policy.ts';

/** RouteAction.hash_policy for traffic from `proxy` to host/subset/port; [] when none applies. */
export function hashPolicyFor(push: PushContext, proxy: Proxy, host: string, subset: string | undefined, port: number): EnvoyJson[] {
  const dr = destinationRuleFor(push, proxy, host);
  return hashPolicyFromLb(trafficPolicyFor(dr, port, subset || undefined).loadBalancer);
}
