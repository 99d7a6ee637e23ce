/**
 * DestinationRule connectionPool.tcp.idleTimeout and maxConnectionDuration for TCP traffic, as
 * Istio applies them: on an outbound tcp_proxy that sends to one cluster, from the policy of that
 * cluster's host, subset and port (tcp_proxy idle_timeout and max_downstream_connection_duration).
 * Weighted tcp_proxies keep Envoy's defaults, as in Istio.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { parseClusterName } from '../cluster/name.ts';
import { destinationRuleFor, trafficPolicyFor } from '../destination_rule.ts';
import { envoyDurationOf } from '../util.ts';

/** Sets the timeouts on `filter` (a tcp_proxy filter) in place and returns it. */
export function withTcpTimeouts(push: PushContext, proxy: Proxy, filter: EnvoyJson): EnvoyJson {
  const cfg = filter.typed_config;
  const parsed = typeof cfg?.cluster === 'string' ? parseClusterName(cfg.cluster) : undefined;
  if (!parsed || parsed.direction !== 'outbound') return filter;
  const tcp = trafficPolicyFor(destinationRuleFor(push, proxy, parsed.host), parsed.port, parsed.subset || undefined).connectionPool?.tcp;
  const idle = envoyDurationOf(tcp?.idleTimeout);
  if (idle) cfg.idle_timeout = idle;
  const max = envoyDurationOf(tcp?.maxConnectionDuration);
  if (max) cfg.max_downstream_connection_duration = max;
  return filter;
}
