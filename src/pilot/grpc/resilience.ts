/**
 * DestinationRule resilience settings in the forms proxyless gRPC clients act on
 * (@grpc/grpc-js-xds 1.14, each on by default there):
 *
 * - Outlier detection (gRFC A50): gRPC implements only success-rate and failure-percentage
 *   ejection; it ignores Envoy's consecutive_* counters, so the sidecar form would be accepted
 *   and do nothing. Istio's consecutive error counts (5xx, gateway, local-origin: gRPC has one
 *   notion of failure, a call that ends with a status other than OK) become failure-percentage
 *   ejection: a host with at least N calls in an interval, more than 85% of them failed (Envoy's
 *   default threshold), is ejected for baseEjectionTime x its ejection count, within
 *   maxEjectionPercent. minimum_hosts is 1 so that small clusters eject too, as a sidecar does.
 * - Consistent hashing (gRFC A42): RING_HASH with its ring sizes. MAGLEV, which gRPC lacks,
 *   becomes RING_HASH: the same promise (a key sticks to a host) by gRPC's own algorithm.
 *   gRPC hashes on headers only (route hash_policy header); see README for the other keys.
 * - Retries (gRFC A44) and faults (gRFC A33) live on routes and the listener (listener.ts).
 */
import type { EnvoyJson } from '../../xds/types.ts';

/** Envoy's default failure_percentage_threshold, and the share at which gRPC ejects a host. */
const FAILURE_PERCENT = 85;
/** Envoy's default consecutive_5xx, when a rule sets outlierDetection without a count. */
const ENVOY_DEFAULT_CONSECUTIVE = 5;

/** Rewrites a gRPC client's cluster in place: outlier detection and load balancer as gRPC reads them. */
export function applyGrpcResilience(cluster: EnvoyJson): void {
  // Always present, ejection off when the rule has none: grpc-js-xds 1.14 compares a new
  // cluster with the cached one over the cached one's keys only, so a cluster gaining outlier
  // detection where it had none would look unchanged and never apply.
  cluster.outlier_detection = cluster.outlier_detection ? grpcOutlierDetection(cluster.outlier_detection) : { enforcing_success_rate: 0 };
  if (cluster.lb_policy === 'MAGLEV') {
    cluster.lb_policy = 'RING_HASH';
    delete cluster.maglev_lb_config;
    cluster.ring_hash_lb_config = { minimum_ring_size: 1024 };
  }
}

/** Envoy OutlierDetection as the sidecar gets it → the failure-percentage form gRPC enforces. */
export function grpcOutlierDetection(od: EnvoyJson): EnvoyJson {
  const counts: number[] = [];
  const enforced = (count: unknown, enforcing: unknown, byDefault: boolean): void => {
    const n = count === undefined ? (byDefault ? ENVOY_DEFAULT_CONSECUTIVE : 0) : Number(count);
    if (n > 0 && Number(enforcing ?? 100) > 0) counts.push(n);
  };
  enforced(od.consecutive_5xx, od.enforcing_consecutive_5xx, true);
  enforced(od.consecutive_gateway_failure, od.enforcing_consecutive_gateway_failure, false);
  enforced(od.consecutive_local_origin_failure, od.enforcing_consecutive_local_origin_failure, false);
  const out: EnvoyJson = {};
  for (const k of ['interval', 'base_ejection_time', 'max_ejection_time', 'max_ejection_percent']) if (od[k] !== undefined) out[k] = od[k];
  out.enforcing_success_rate = 0;
  if (counts.length === 0) return out; // every counter disabled: nothing to enforce
  out.enforcing_failure_percentage = 100;
  out.failure_percentage_threshold = FAILURE_PERCENT;
  out.failure_percentage_request_volume = Math.min(...counts);
  out.failure_percentage_minimum_hosts = 1;
  return out;
}
