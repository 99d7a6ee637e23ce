/**
 * envoy.filters.http.dynamic_forward_proxy (extensions.filters.http.dynamic_forward_proxy.v3
 * .FilterConfig): when the route's cluster is a dynamic forward proxy cluster, makes sure the
 * request's host is in that cluster's DNS cache before the router picks a host. A cached answer
 * lets the request through at once; otherwise iteration stops while the lookup runs (other
 * requests for the same name wait on the same lookup) and continues when it ends. As in Envoy:
 * a name that does not resolve gets 503 "DNS resolution failure" with response flag DF, a full
 * cache (max_hosts) 503 "DNS cache overflow", and too many requests waiting on DNS
 * (dns_cache_circuit_breaker.max_pending_requests) 503 with flag UO.
 *
 * The per-route PerRouteConfig (host_rewrite_literal / host_rewrite_header) rewrites :authority
 * before the lookup, so the request goes to, and is sent upstream as, the rewritten host.
 *
 * The cache itself belongs to the cluster (cluster_manager keeps one per dns_cache_config.name)
 * and is reached through UpstreamCluster.dynamicHosts, which also parses the authority;
 * the filter's own dns_cache_config must name the same cache, as Envoy requires of the pair.
 */
import { FilterStatus, type FactoryContext, type HeaderMap, type HttpFilter, type HttpFilterFactory, type StreamFilterCallbacks, type UpstreamCluster } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { getHeader } from '../common/header_utils.ts';
import { LocalReplyBody } from '../common/local_reply.ts';
import { ResponseFlag } from '../common/response_flags.ts';
import { log } from '../../logger.ts';

export const DYNAMIC_FORWARD_PROXY_FILTER_NAME = 'envoy.filters.http.dynamic_forward_proxy';

/** PerRouteConfig compiled: how to rewrite :authority before the lookup. */
interface PerRoute {
  hostRewriteLiteral?: string;
  hostRewriteHeader?: string;
}

/** Envoy's response code details for this filter's local replies. */
const Details = {
  dnsResolutionFailure: 'dns_resolution_failure',
  dnsCacheOverflow: 'dns_cache_overflow',
  pendingOverflow: 'dynamic_forward_proxy_pending_request_overflow',
} as const;

class DynamicForwardProxyFilter implements HttpFilter {
  private releasePending: (() => void) | undefined;
  private done = false;

  constructor(
    private readonly cb: StreamFilterCallbacks,
    private readonly ctx: FactoryContext,
    private readonly cacheName: string,
  ) {}

  decodeHeaders(h: HeaderMap): FilterStatus {
    const route = this.cb.route();
    const action: EnvoyJson | undefined = route?.route;
    if (!action) return FilterStatus.Continue; // direct response, redirect, no route: not ours
    const cluster = this.clusterFor(action, h);
    const dyn = cluster?.dynamicHosts;
    // Not a dynamic forward proxy cluster (or none at all, which the router reports): pass.
    if (!dyn) return FilterStatus.Continue;
    if (dyn.cacheName !== this.cacheName) {
      log.warnOnce(`dfp-cache-${this.cacheName}-${dyn.cacheName}`, `${DYNAMIC_FORWARD_PROXY_FILTER_NAME}: filter names DNS cache ${this.cacheName} but cluster ${cluster!.name} uses ${dyn.cacheName}; using the cluster's`);
    }
    this.rewriteHost(h);
    const r = dyn.load(getHeader(h, ':authority') ?? '');
    if (r.status === 'InCache') return r.address !== undefined ? FilterStatus.Continue : this.dnsFailure();
    if (r.status === 'Overflow') {
      this.cb.streamInfo.responseCodeDetails = Details.dnsCacheOverflow;
      this.cb.sendLocalReply(503, LocalReplyBody.dnsCacheOverflow);
      return FilterStatus.StopIteration;
    }
    this.releasePending = dyn.tryAcquirePending();
    if (!this.releasePending) {
      this.cb.streamInfo.responseCodeDetails = Details.pendingOverflow;
      this.cb.sendLocalReply(503, LocalReplyBody.dnsPendingOverflow, undefined, { responseFlag: ResponseFlag.UpstreamOverflow });
      return FilterStatus.StopIteration;
    }
    void r.done.then((address) => {
      this.releasePending?.();
      this.releasePending = undefined;
      if (this.done) return;
      if (address !== undefined) this.cb.continueDecoding();
      else this.dnsFailure();
    });
    return FilterStatus.StopIteration;
  }

  /** The route's cluster as the router will pick it; for weighted clusters, the first dynamic one. */
  private clusterFor(action: EnvoyJson, h: HeaderMap): UpstreamCluster | undefined {
    const cm = this.ctx.clusterManager;
    if (action.cluster !== undefined) return cm.get(String(action.cluster));
    if (action.cluster_header !== undefined) {
      const name = getHeader(h, String(action.cluster_header).toLowerCase());
      return name ? cm.get(name) : undefined;
    }
    for (const wc of (action.weighted_clusters?.clusters ?? []) as EnvoyJson[]) {
      const c = cm.get(String(wc.name));
      if (c?.dynamicHosts) return c;
    }
    return undefined;
  }

  private rewriteHost(h: HeaderMap): void {
    const per = this.cb.perFilterConfig<PerRoute>(DYNAMIC_FORWARD_PROXY_FILTER_NAME);
    if (!per) return;
    const value = per.hostRewriteLiteral ?? (per.hostRewriteHeader ? getHeader(h, per.hostRewriteHeader) : undefined);
    if (value) h.set(':authority', String(value));
  }

  private dnsFailure(): FilterStatus {
    this.cb.streamInfo.responseCodeDetails = Details.dnsResolutionFailure;
    this.cb.sendLocalReply(503, LocalReplyBody.dnsResolutionFailure, undefined, { responseFlag: ResponseFlag.DnsResolutionFailed });
    return FilterStatus.StopIteration;
  }

  onResetStream(): void {
    this.onDestroy();
  }

  onDestroy(): void {
    this.done = true;
    this.releasePending?.();
    this.releasePending = undefined;
  }
}

export const dynamicForwardProxyFilterFactory: HttpFilterFactory = {
  create(config: EnvoyJson, ctx: FactoryContext) {
    if (config.sub_cluster_config !== undefined) throw new Error(`${DYNAMIC_FORWARD_PROXY_FILTER_NAME}: sub_cluster_config is not supported (use dns_cache_config)`);
    if (!config.dns_cache_config) throw new Error(`${DYNAMIC_FORWARD_PROXY_FILTER_NAME}: dns_cache_config is required`);
    if (typeof config.dns_cache_config.name !== 'string' || config.dns_cache_config.name === '') throw new Error(`${DYNAMIC_FORWARD_PROXY_FILTER_NAME}: dns_cache_config.name is required`);
    const cacheName = String(config.dns_cache_config.name);
    return (cb: StreamFilterCallbacks) => new DynamicForwardProxyFilter(cb, ctx, cacheName);
  },
  routeConfig(config: EnvoyJson): PerRoute {
    const literal = config.host_rewrite_literal;
    const header = config.host_rewrite_header;
    if (literal !== undefined && header !== undefined) throw new Error('PerRouteConfig: only one of host_rewrite_literal, host_rewrite_header');
    return { hostRewriteLiteral: literal ? String(literal) : undefined, hostRewriteHeader: header ? String(header).toLowerCase() : undefined };
  },
};
