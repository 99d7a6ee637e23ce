/**
 * ALLOW_ANY for a sidecar without traffic capture (tsmesh addition; Istio has no equivalent).
 *
 * With iptables capture, a request for a host the mesh does not know reaches the `allow_any`
 * virtual host and goes to PassthroughCluster (ORIGINAL_DST): the connection's original
 * destination is where the app was sending it. In INTERCEPTION_MODE NONE the app instead sends
 * such requests to the sidecar's HTTP proxy listener (HTTP_PROXY_PORT), so the original
 * destination is that listener itself and passing through would loop. What the app meant is in
 * the request: the Host. So that listener gets Envoy's dynamic forward proxy instead, the
 * cluster below plus the envoy.filters.http.dynamic_forward_proxy filter before the router
 * (listener/filters.ts), both on one DNS cache, and the `http_proxy` route ends with an
 * `allow_any` vhost to this cluster. PassthroughCluster stays as it is, for capture modes.
 *
 * Only NONE-mode sidecars with HTTP_PROXY_PORT whose effective outbound policy is ALLOW_ANY get
 * any of it; under REGISTRY_ONLY the route's `block_all` answers 502 and nothing here exists.
 */
import { egressProxyFor } from './egress_proxy.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { isNoneMode } from '../interception.ts';
import { sidecarScopeFor } from '../visibility.ts';
import { NO_LIMITS } from './inbound.ts';
import { DYNAMIC_FORWARD_PROXY_CLUSTER } from './name.ts';
import { DEFAULT_CONNECT_TIMEOUT } from './policy.ts';
import { CLUSTER_EXT } from '../../xds/type_urls.ts';

export const DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE = 'envoy.clusters.dynamic_forward_proxy';
const CLUSTER_CONFIG_TYPE = CLUSTER_EXT.DYNAMIC_FORWARD_PROXY;
/** The cache name from Envoy's documented example; the cluster and the filter must name the same one. */
export const DNS_CACHE_NAME = 'dynamic_forward_proxy_cache_config';

/** Whether this proxy's HTTP proxy listener forwards unknown hosts by name. */
export function usesDynamicForwardProxy(push: PushContext, proxy: Proxy): boolean {
  // A Sidecar egressProxy takes unknown hosts instead (./egress_proxy.ts).
  return proxy.type === 'sidecar' && isNoneMode(proxy) && proxy.httpProxyPort !== undefined && sidecarScopeFor(push, proxy).outboundTrafficPolicy === 'ALLOW_ANY' && !egressProxyFor(push, proxy);
}

/**
 * The DnsCacheConfig both halves share. IPv4 first: Istio resolves its DNS clusters V4_ONLY on
 * single-stack meshes, and on loopback `localhost` may also name ::1 where nothing listens;
 * V4_PREFERRED still reaches a name that has only IPv6 addresses. Other settings are Envoy's
 * defaults (host_ttl 5m, max_hosts 1024, dns_refresh_rate 60s).
 */
export function dnsCacheConfig(): EnvoyJson {
  return { name: DNS_CACHE_NAME, dns_lookup_family: 'V4_PREFERRED' };
}

/** `DynamicForwardProxyCluster`: no timeout of its own and no limits, like PassthroughCluster. */
export function dynamicForwardProxyCluster(): EnvoyJson {
  return {
    name: DYNAMIC_FORWARD_PROXY_CLUSTER,
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    lb_policy: 'CLUSTER_PROVIDED',
    circuit_breakers: NO_LIMITS,
    cluster_type: { name: DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE, typed_config: { '@type': CLUSTER_CONFIG_TYPE, dns_cache_config: dnsCacheConfig() } },
  };
}
