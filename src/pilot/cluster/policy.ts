/**
 * DestinationRule traffic policy → Envoy Cluster fields: load balancer, connection pool (circuit
 * breakers, protocol options), outlier detection, locality settings. Field mapping follows
 * Istio's cluster builder (applyLoadBalancer, applyConnectionPool, applyOutlierDetection).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { TrafficPolicy } from '../../api/networking.ts';
import { envoyDurationOf } from '../util.ts';
import { applyConnectionPool } from './connection_pool.ts';
import { applyLocalityWeighted, applyWarmup } from './load_balancer.ts';

export { HTTP_PROTOCOL_OPTIONS } from './connection_pool.ts';
export const DEFAULT_CONNECT_TIMEOUT = '10s';

export interface PolicyOptions {
  /** Port speaks HTTP/2 (HTTP2, GRPC, GRPC-WEB): upstream must too. */
  http2: boolean;
  /** Port speaks HTTP at all: HTTP connection-pool settings apply. */
  http: boolean;
  /** lb_policy when the rule sets none: Istio uses LEAST_REQUEST; gRPC clients need ROUND_ROBIN. */
  defaultLb: 'LEAST_REQUEST' | 'ROUND_ROBIN';
  /** The default retry budget when the rule sets none (./connection_pool.ts). */
  defaultRetryBudget?: boolean;
}

/** Applies a merged traffic policy to `cluster` in place. */
export function applyTrafficPolicy(cluster: EnvoyJson, policy: TrafficPolicy, opts: PolicyOptions): void {
  applyLoadBalancer(cluster, policy.loadBalancer, opts.defaultLb);
  applyConnectionPool(cluster, policy.connectionPool ?? {}, policy.retryBudget, opts);
  if (policy.outlierDetection) applyOutlierDetection(cluster, policy.outlierDetection);
  // Weights per locality come in EDS; this tells Envoy to honour them. Warmup is slow start.
  applyLocalityWeighted(cluster, policy.loadBalancer, policy.outlierDetection !== undefined);
  applyWarmup(cluster, policy.loadBalancer);
}

function applyLoadBalancer(cluster: EnvoyJson, lb: Record<string, any> | undefined, defaultLb: string): void {
  if (cluster.type === 'ORIGINAL_DST') {
    cluster.lb_policy = 'CLUSTER_PROVIDED';
    return;
  }
  const ch = lb?.consistentHash;
  if (ch) {
    if (ch.maglev) {
      cluster.lb_policy = 'MAGLEV';
      if (ch.maglev.tableSize) cluster.maglev_lb_config = { table_size: Number(ch.maglev.tableSize) };
    } else {
      cluster.lb_policy = 'RING_HASH';
      const min = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize ?? 1024;
      cluster.ring_hash_lb_config = { minimum_ring_size: Number(min) };
    }
    return;
  }
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
      cluster.lb_policy = 'ROUND_ROBIN';
      break;
    case 'RANDOM':
      cluster.lb_policy = 'RANDOM';
      break;
    case 'LEAST_CONN':
    case 'LEAST_REQUEST':
      cluster.lb_policy = 'LEAST_REQUEST';
      break;
    case 'PASSTHROUGH':
      // Connect to whatever address the caller dialled.
      cluster.type = 'ORIGINAL_DST';
      cluster.lb_policy = 'CLUSTER_PROVIDED';
      delete cluster.eds_cluster_config;
      delete cluster.load_assignment;
      break;
    default:
      cluster.lb_policy = defaultLb;
  }
}

/** Istio's applyOutlierDetection: the same Envoy fields, and the same defaults, as istiod writes. */
function applyOutlierDetection(cluster: EnvoyJson, od: Record<string, any>): void {
  const out: EnvoyJson = {};
  if (od.consecutiveErrors !== undefined && Number(od.consecutiveErrors) > 0 && od.consecutive5xxErrors === undefined && od.consecutiveGatewayErrors === undefined) {
    // The deprecated field counts gateway errors only (istio/api#617), as istiod maps it.
    out.consecutive_gateway_failure = Number(od.consecutiveErrors);
    out.enforcing_consecutive_gateway_failure = 100;
    out.enforcing_consecutive_5xx = 0;
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out.consecutive_gateway_failure = Number(od.consecutiveGatewayErrors);
    out.enforcing_consecutive_gateway_failure = Number(od.consecutiveGatewayErrors) > 0 ? 100 : 0;
  }
  if (od.consecutive5xxErrors !== undefined) {
    out.consecutive_5xx = Number(od.consecutive5xxErrors);
    out.enforcing_consecutive_5xx = Number(od.consecutive5xxErrors) > 0 ? 100 : 0;
  }
  if (od.splitExternalLocalOriginErrors) {
    out.split_external_local_origin_errors = true;
    if (Number(od.consecutiveLocalOriginFailures ?? 0) > 0) {
      out.consecutive_local_origin_failure = Number(od.consecutiveLocalOriginFailures);
      out.enforcing_consecutive_local_origin_failure = 100;
    }
    out.enforcing_local_origin_success_rate = 0;
  }
  if (od.interval) out.interval = envoyDurationOf(od.interval);
  if (od.baseEjectionTime) out.base_ejection_time = envoyDurationOf(od.baseEjectionTime);
  // 0 is proto3's "unset": Envoy's default (10%) applies, as with istiod.
  if (Number(od.maxEjectionPercent ?? 0) > 0) out.max_ejection_percent = Number(od.maxEjectionPercent);
  // Istio disables success-rate ejection; it is not part of its API.
  out.enforcing_success_rate = 0;
  cluster.outlier_detection = out;
  // minHealthPercent is Envoy's panic threshold. istiod always sets it with outlier detection, so
  // its default (0) turns panic off: ejected hosts stay out even when few are left.
  cluster.common_lb_config = { ...(cluster.common_lb_config ?? {}), healthy_panic_threshold: { value: Number(od.minHealthPercent ?? 0) } };
}

/**
 * Envoy RouteAction.hash_policy for a consistentHash load balancer, for the route builder to put
 * on routes to this cluster (the cluster only chooses RING_HASH or MAGLEV).
 */
export function hashPolicyFromLb(lb: Record<string, any> | undefined): EnvoyJson[] {
  const ch = lb?.consistentHash;
  if (!ch) return [];
  if (ch.httpHeaderName) return [{ header: { header_name: ch.httpHeaderName } }];
  if (ch.httpCookie) {
    const cookie: EnvoyJson = { name: ch.httpCookie.name };
    if (ch.httpCookie.path) cookie.path = ch.httpCookie.path;
    if (ch.httpCookie.ttl) cookie.ttl = envoyDurationOf(ch.httpCookie.ttl);
    return [{ cookie }];
  }
  if (ch.useSourceIp) return [{ connection_properties: { source_ip: true } }];
  if (ch.httpQueryParameterName) return [{ query_parameter: { name: ch.httpQueryParameterName } }];
  return [];
}
