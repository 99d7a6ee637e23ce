/**
 * Envoy's dynamic forward proxy cluster (cluster_type `envoy.clusters.dynamic_forward_proxy`,
 * extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig, lb_policy CLUSTER_PROVIDED): no
 * endpoints are configured; the upstream host is whatever the request's :authority resolves to
 * in the cluster's DNS cache (dns_cache.ts). `host` alone means port 80, or 443 when the cluster
 * has a TLS transport socket, as in Envoy.
 *
 * The HTTP filter envoy.filters.http.dynamic_forward_proxy resolves the name before the router
 * runs, so the load balancer here only looks the answer up. The cluster's host set mirrors the
 * cache's resolved entries (one host per address:port), which gives each resolved host its own
 * keep-alive pool like any other cluster's, shows the hosts in admin output, and closes a host's
 * pool once the cache purges it (host_ttl) or its address changes.
 */
import { isIP } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';
import type { LoadBalancerContext, UpstreamHost } from '../interfaces.ts';
import type { ClusterImpl } from './cluster.ts';
import type { DnsCacheManager } from './dns_cache.ts';
import { hostAddress } from './eds.ts';
import { CLUSTER_EXT } from '../../xds/type_urls.ts';

export const DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE = 'envoy.clusters.dynamic_forward_proxy';
export const DYNAMIC_FORWARD_PROXY_CLUSTER_CONFIG = CLUSTER_EXT.DYNAMIC_FORWARD_PROXY;

const DNS_LOOKUP_FAMILIES = new Set(['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL']);

/** True for a Cluster whose cluster_type is the dynamic forward proxy (by name or by config type, as Envoy finds extensions). */
export function isDynamicForwardProxyCluster(c: EnvoyJson): boolean {
  const ct = c.cluster_type;
  return ct !== undefined && (ct.name === DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE || ct.typed_config?.['@type'] === DYNAMIC_FORWARD_PROXY_CLUSTER_CONFIG);
}

/** What Envoy refuses to load about such a cluster; `at` names it. */
export function validateDynamicForwardProxyCluster(c: EnvoyJson, at: string): string[] {
  const errs: string[] = [];
  const cfg = c.cluster_type?.typed_config;
  const p = `${at}.cluster_type.typed_config`;
  if (c.lb_policy !== undefined && c.lb_policy !== 'CLUSTER_PROVIDED') errs.push(`${at}.lb_policy: ${c.lb_policy} is not valid for cluster type ${DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE} (use CLUSTER_PROVIDED)`);
  if (cfg?.sub_clusters_config !== undefined) errs.push(`${p}.sub_clusters_config: not supported (use dns_cache_config)`);
  else if (!cfg?.dns_cache_config) errs.push(`${p}.dns_cache_config: required`);
  else errs.push(...validateDnsCacheConfig(cfg.dns_cache_config, `${p}.dns_cache_config`));
  if ((c.load_assignment?.endpoints ?? []).length > 0) errs.push(`${at}.load_assignment: a dynamic forward proxy cluster takes no endpoints (hosts come from the request)`);
  return errs;
}

/** Shared with the HTTP filter, whose config carries the same DnsCacheConfig. */
export function validateDnsCacheConfig(d: EnvoyJson, path: string): string[] {
  const errs: string[] = [];
  if (typeof d.name !== 'string' || d.name === '') errs.push(`${path}.name: required`);
  if (d.dns_lookup_family !== undefined && !DNS_LOOKUP_FAMILIES.has(String(d.dns_lookup_family))) errs.push(`${path}.dns_lookup_family: unsupported value ${d.dns_lookup_family}`);
  if (d.max_hosts !== undefined && !(Number(d.max_hosts) > 0)) errs.push(`${path}.max_hosts: must be greater than 0`);
  return errs;
}

/**
 * `host[:port]` (an :authority) -> lower-cased host without IPv6 brackets, and port (the default
 * when absent). undefined for what no DNS lookup could mean: empty, bad port, unbalanced brackets.
 */
export function parseAuthority(authority: string, defaultPort: number): { host: string; port: number } | undefined {
  const a = authority.trim().toLowerCase();
  if (a === '') return undefined;
  let host: string;
  let portText: string | undefined;
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    if (end < 0) return undefined;
    host = a.slice(1, end);
    const rest = a.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    portText = rest === '' ? undefined : rest.slice(1);
    if (isIP(host) !== 6) return undefined;
  } else {
    const i = a.lastIndexOf(':');
    if (i >= 0 && a.indexOf(':') !== i) return undefined; // a bare IPv6 literal must be bracketed in a Host
    host = i >= 0 ? a.slice(0, i) : a;
    portText = i >= 0 ? a.slice(i + 1) : undefined;
  }
  if (host === '') return undefined;
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  return { host, port };
}

export function setupDynamicForwardProxy(cluster: ClusterImpl, caches: DnsCacheManager): void {
  const { cache, release } = caches.acquire(cluster.config.cluster_type?.typed_config?.dns_cache_config ?? {});
  const defaultPort = cluster.tls ? 443 : 80;
  cluster.dynamicHosts = {
    cacheName: cache.name,
    load: (authority) => {
      const hp = parseAuthority(authority, defaultPort);
      return hp ? cache.load(hp.host, hp.port) : { status: 'InCache', address: undefined };
    },
    tryAcquirePending: () => cache.tryAcquirePending(),
  };

  // Host objects are kept while their address stays, so their pools (and stats) do too.
  const sync = () => {
    const next = new Map<string, UpstreamHost>();
    for (const r of cache.resolved()) {
      const address = hostAddress(r.address, r.port);
      if (!next.has(address)) next.set(address, cluster.hostIndex.get(address) ?? { address, ip: r.address, port: r.port, weight: 1, healthy: true });
    }
    cluster.setHosts([[...next.values()]]);
  };
  const unsubscribe = cache.onUpdate(sync);

  cluster.hostForContext = (ctx: LoadBalancerContext | undefined): UpstreamHost | undefined => {
    const hp = ctx?.authority !== undefined ? parseAuthority(ctx.authority, defaultPort) : undefined;
    if (!hp) return undefined;
    const ip = cache.address(hp.host, hp.port);
    if (ip === undefined) return undefined;
    const address = hostAddress(ip, hp.port);
    let h = cluster.hostIndex.get(address);
    if (!h) {
      sync();
      h = cluster.hostIndex.get(address);
    }
    return h;
  };

  cluster.onClose = () => {
    unsubscribe();
    release();
  };
  // Entries another cluster sharing the cache already resolved are hosts here too.
  sync();
  // Hosts arrive with requests; nothing to wait for.
  cluster.markInitialized();
}
