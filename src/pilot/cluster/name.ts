/**
 * Istio's cluster names: `outbound|<port>|<subset>|<host>` and `inbound|<port>||`. Routes,
 * listeners and EDS all refer to clusters by these strings.
 */

export type Direction = 'outbound' | 'inbound';

/** Builds `direction|port|subset|host`, e.g. `outbound|9080|v1|reviews.default.svc.cluster.local`. */
export function clusterName(direction: Direction, port: number, subset: string | undefined, host: string): string {
  return `${direction}|${port}|${subset ?? ''}|${host}`;
}

export interface ParsedClusterName {
  direction: Direction;
  port: number;
  subset: string;
  host: string;
}

/** Reverses clusterName; undefined for names that are not Istio service clusters. */
export function parseClusterName(name: string): ParsedClusterName | undefined {
  const parts = name.split('|');
  if (parts.length !== 4) return undefined;
  const [direction, port, subset, host] = parts as [string, string, string, string];
  if (direction !== 'outbound' && direction !== 'inbound') return undefined;
  const n = Number(port);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) return undefined;
  return { direction, port: n, subset, host };
}

/** Fixed cluster names Istio installs on every sidecar. */
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';
/**
 * tsmesh addition, not an Istio name: the dynamic forward proxy cluster behind the no-capture
 * (NONE mode) HTTP proxy listener's `allow_any` route. See cluster/dynamic_forward_proxy.ts.
 */
export const DYNAMIC_FORWARD_PROXY_CLUSTER = 'DynamicForwardProxyCluster';
