/**
 * Host selection for one attempt, as Envoy's router does it through its LoadBalancerContext:
 * - retry_host_predicate previous_hosts: a host already tried is rejected and the load balancer
 *   asked again, up to host_selection_retry_max_attempts more times (then the last pick stands);
 *   the tried hosts also go to the balancer as excludeHosts, which ours can skip directly;
 * - retry_priority previous_priorities: every `update_frequency` attempts, the priorities tried
 *   so far are excluded for the next ones (the balancer spreads load over the others as if
 *   those were unhealthy); when that would leave no priority with a healthy host, nothing is
 *   excluded (Envoy falls back to the original priority load then).
 */
import type { LoadBalancerContext, UpstreamCluster, UpstreamHost } from '../../interfaces.ts';
import type { RetryPolicy } from './retry_policy.ts';

/** What the router remembers about the attempts of one request. */
export interface AttemptHistory {
  hosts: Set<UpstreamHost>;
  /** The priority of each attempt's host, in order (only kept with a retry priority). */
  priorities: number[];
}

/** Picks the host for the next attempt; undefined when the cluster has none to offer. */
export function selectHost(cluster: UpstreamCluster, policy: RetryPolicy | undefined, history: AttemptHistory | undefined, base: LoadBalancerContext): UpstreamHost | undefined {
  if (!history || !policy) return cluster.chooseHost(base);
  const ctx: LoadBalancerContext = { ...base };
  if (policy.previousHosts) ctx.excludeHosts = history.hosts;
  if (policy.priorityUpdateFrequency > 0) ctx.previousPriorities = excludedPriorities(cluster, history.priorities, policy.priorityUpdateFrequency);
  let host = cluster.chooseHost(ctx);
  if (!policy.previousHosts) return host;
  for (let i = 0; i < policy.hostSelectionMaxAttempts && host && history.hosts.has(host); i++) host = cluster.chooseHost(ctx);
  return host;
}

/** previous_priorities: the priorities of the first ⌊attempts / f⌋ × f attempts, unless that excludes all. */
export function excludedPriorities(cluster: UpstreamCluster, tried: number[], updateFrequency: number): Set<number> | undefined {
  const counted = Math.floor(tried.length / updateFrequency) * updateFrequency;
  if (counted === 0) return undefined;
  const out = new Set(tried.slice(0, counted));
  const levels = clusterPriorities(cluster);
  for (let p = 0; p < levels.length; p++) if (!out.has(p) && levels[p].some((h) => h.healthy)) return out;
  return undefined;
}

/** The priority (index in the cluster's priority set) of a host; 0 when unknown. */
export function priorityOf(cluster: UpstreamCluster, host: UpstreamHost): number {
  const levels = clusterPriorities(cluster);
  for (let p = 0; p < levels.length; p++) if (levels[p].includes(host)) return p;
  return 0;
}

function clusterPriorities(cluster: UpstreamCluster): UpstreamHost[][] {
  return cluster.priorities ?? [];
}
