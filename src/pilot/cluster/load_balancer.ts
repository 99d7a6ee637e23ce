/**
 * The load-balancer parts of a DestinationRule that go on the Cluster besides lb_policy, as Istio's
 * cluster builder: warmup (slow start) on ROUND_ROBIN / LEAST_REQUEST, and locality-weighted LB
 * when localityLbSetting asks for locality weights or failover (the weights themselves go in EDS,
 * see pilot/locality_lb.ts).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { envoyDurationOf } from '../util.ts';

/**
 * loadBalancer.warmup {duration, minimumPercent, aggression} or the older warmupDurationSecs →
 * slow_start_config on the round robin / least request config (Istio ignores it for others).
 */
export function applyWarmup(cluster: EnvoyJson, lb: Record<string, any> | undefined): void {
  const window = lb?.warmup?.duration ?? lb?.warmupDurationSecs;
  if (!window) return;
  const field = cluster.lb_policy === 'ROUND_ROBIN' ? 'round_robin_lb_config' : cluster.lb_policy === 'LEAST_REQUEST' ? 'least_request_lb_config' : undefined;
  if (!field) return;
  const slow: EnvoyJson = { slow_start_window: envoyDurationOf(window) };
  if (lb?.warmup?.aggression !== undefined) slow.aggression = { default_value: Number(lb.warmup.aggression), runtime_key: 'upstream.slow_start.aggression' };
  if (lb?.warmup?.minimumPercent !== undefined) slow.min_weight_percent = { value: Number(lb.warmup.minimumPercent) };
  cluster[field] = { ...(cluster[field] ?? {}), slow_start_config: slow };
}

/**
 * Istio sets locality_weighted_lb_config when distribute is given, or failover / failoverPriority
 * with outlier detection (without it nothing ever fails over, so nothing is prioritised).
 */
export function applyLocalityWeighted(cluster: EnvoyJson, lb: Record<string, any> | undefined, outlierDetection: boolean): void {
  const s = lb?.localityLbSetting;
  if (!s || s.enabled === false) return;
  const failover = outlierDetection && (s.failover?.length || s.failoverPriority?.length);
  if (!s.distribute?.length && !failover) return;
  cluster.common_lb_config = { ...(cluster.common_lb_config ?? {}), locality_weighted_lb_config: {} };
}
