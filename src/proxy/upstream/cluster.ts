/**
 * One upstream cluster as the data path sees it (Envoy's ClusterInfo + ThreadLocalCluster): the
 * host set by priority, its load balancer, per-host connection pools, circuit breakers and stats
 * under cluster.<name>.*. How hosts are found (static, EDS, DNS, original destination) lives in
 * the cluster manager and the DNS/original-dst helpers; they call `setHosts`.
 */
import type { Socket } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';
import type { DynamicHostCache, HttpConnPool, LoadBalancerContext, OutlierSink, UpstreamCluster, UpstreamHost, UpstreamProtocol } from '../interfaces.ts';
import { StatsStore, type ScopedStats } from '../stats/stats_store.ts';
import type { TlsOptions } from '../tls/tls_context.ts';
import { durationMs } from '../duration.ts';
import { ConnPoolMap, connectTcp, protocolOfDownstream, type SourceAddress } from './conn_pool.ts';
import type { TransportSockets } from './transport_socket_match.ts';
import { indexHosts } from './eds.ts';
import { hostStatsOf } from './host_stats.ts';
import { effectiveLbPolicy, loadBalancerFactory, type LoadBalancer } from './load_balancer.ts';
import type { LocalClusterView } from './zone_aware.ts';
import { ResourceManager, type ResourceKind } from './resource_manager.ts';
import { poolSettings } from './pool_options.ts';
import { HealthSources } from './health_sources.ts';
import './least_request.ts';
import './ring_hash.ts';
import './maglev.ts';

const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/**
 * http2 when the cluster says so (explicit http2_protocol_options, or the legacy field). With
 * use_downstream_protocol_config this is only the fallback: requests follow the downstream.
 */
export function upstreamProtocol(c: EnvoyJson): UpstreamProtocol {
  const opts = c.typed_extension_protocol_options?.[HTTP_OPTIONS];
  if (opts?.explicit_http_config?.http2_protocol_options || c.http2_protocol_options) return 'http2';
  return 'http1';
}

/** use_downstream_protocol_config: the upstream speaks the downstream request's protocol. */
export function followsDownstreamProtocol(c: EnvoyJson): boolean {
  return c.typed_extension_protocol_options?.[HTTP_OPTIONS]?.use_downstream_protocol_config !== undefined;
}

/** upstream_bind_config.source_address, if any. */
export function sourceAddress(c: EnvoyJson): SourceAddress | undefined {
  const sa = c.upstream_bind_config?.source_address;
  if (!sa?.address) return undefined;
  return { ip: String(sa.address), port: Number(sa.port_value ?? 0) };
}

export class ClusterImpl implements UpstreamCluster {
  readonly protocol: UpstreamProtocol;
  readonly stats: ScopedStats;
  readonly type: string;
  readonly lbPolicy: string;
  priorities: UpstreamHost[][] = [];
  hostIndex = new Map<string, UpstreamHost>();
  /** True once the first host set arrived (Envoy's cluster warming). */
  initialized = false;
  private readonly initWaiters: (() => void)[] = [];
  private readonly lb: LoadBalancer | undefined;
  readonly pools: ConnPoolMap;
  private readonly resources: ResourceManager;
  private readonly connectTimeoutMs: number;
  private readonly source: SourceAddress | undefined;
  /** upstream_connection_options.tcp_keepalive, for tcp_proxy connections too. */
  private readonly keepAliveMs: number | undefined;
  /** Hook for CLUSTER_PROVIDED clusters (ORIGINAL_DST, dynamic forward proxy): picks the host from the context instead of the LB. */
  hostForContext?: (ctx: LoadBalancerContext | undefined) => UpstreamHost | undefined;
  /** Set by dynamic_forward_proxy_cluster.ts: the DNS cache its HTTP filter resolves through. */
  dynamicHosts?: DynamicHostCache;
  /** The outlier detector, when the cluster has outlier_detection. */
  outlier?: OutlierSink;
  /** Set by DNS/original-dst helpers to stop their timers on close. */
  onClose?: () => void;
  /** Outlier detection and active health checking, from the cluster's config. */
  readonly health: HealthSources;

  constructor(
    readonly name: string,
    readonly config: EnvoyJson,
    store: StatsStore,
    /** The cluster's transport_socket TLS (what endpoints no transport_socket_matches entry picks get). */
    readonly tls: TlsOptions | undefined,
    /** version_info of the CDS response that carried it. */
    readonly version: string,
    /** Per-endpoint transport sockets (transport_socket_matches); absent: `tls` for every host. */
    private readonly sockets?: TransportSockets,
    /** The caller's own cluster and locality (bootstrap local_cluster_name), for zone-aware routing. */
    localCluster?: LocalClusterView,
  ) {
    // A custom cluster (cluster_type) is known by its extension name, e.g. envoy.clusters.dynamic_forward_proxy.
    this.type = config.cluster_type?.name ?? config.type ?? 'STATIC';
    this.lbPolicy = effectiveLbPolicy(config);
    this.protocol = upstreamProtocol(config);
    this.stats = store.scope(`cluster.${name}.`, { family: 'cluster', label: 'envoy_cluster_name', value: name });
    this.connectTimeoutMs = durationMs(config.connect_timeout, 5000);
    this.resources = new ResourceManager(config.circuit_breakers, this.stats);
    this.source = sourceAddress(config);
    const settings = poolSettings(config);
    this.keepAliveMs = settings.keepAliveMs;
    this.pools = new ConnPoolMap({
      protocol: this.protocol,
      followDownstream: followsDownstreamProtocol(config),
      transportSocket: (h) => this.transportSocket(h),
      source: this.source,
      connectTimeoutMs: this.connectTimeoutMs,
      // Circuit breakers count connections and pending requests across every host's pool.
      limits: this.resources,
      ...settings,
      stats: this.stats,
    });
    const factory = loadBalancerFactory(this.lbPolicy);
    this.lb = factory?.(config, this.stats, (h) => this.pools.activeRequests(h), localCluster);
    for (const n of ['upstream_cx_total', 'upstream_cx_connect_fail', 'upstream_rq_total', 'upstream_rq_completed', 'upstream_rq_2xx', 'upstream_rq_4xx', 'upstream_rq_5xx', 'upstream_cx_none_healthy', 'update_success', 'lb_healthy_panic']) this.stats.counter(n);
    for (const n of ['upstream_cx_active', 'upstream_rq_active', 'membership_total', 'membership_healthy']) this.stats.gauge(n);
    const noStats = new StatsStore();
    this.health = new HealthSources(config, {
      name,
      stats: this.stats,
      allHosts: () => this.allHosts(),
      hostHealthChanged: () => this.hostHealthChanged(),
      // Health check connections are not traffic: their counts stay out of the cluster's stats.
      connectForHealthCheck: (h) => connectTcp(h, this.transportSocket(h).tls, this.connectTimeoutMs, noStats, this.source),
    });
    this.outlier = this.health.outlier;
  }

  /** Replaces the host set; pools of hosts that left close after their in-flight requests. */
  setHosts(priorities: UpstreamHost[][]): void {
    this.priorities = priorities;
    this.hostIndex = indexHosts(priorities);
    this.health.onHosts(this.hostIndex.values());
    this.lb?.update(priorities);
    this.pools.retainOnly(new Set(this.hostIndex.keys()));
    this.updateMembership();
    this.stats.counter('update_success').inc();
    // With active health checking the cluster warms until every host had its first check.
    this.health.whenReady(() => this.markInitialized());
  }

  /**
   * A host's health flags changed (active health check, outlier ejection or its end): load
   * balancers rebuild their candidate sets from the same host set.
   */
  hostHealthChanged(): void {
    this.lb?.update(this.priorities);
    this.updateMembership();
  }

  private updateMembership(): void {
    let healthy = 0;
    for (const h of this.hostIndex.values()) if (h.healthy) healthy++;
    this.stats.gauge('membership_total').set(this.hostIndex.size);
    this.stats.gauge('membership_healthy').set(healthy);
  }

  markInitialized(): void {
    if (this.initialized) return;
    this.initialized = true;
    for (const w of this.initWaiters.splice(0)) w();
  }

  whenInitialized(cb: () => void): void {
    if (this.initialized) cb();
    else this.initWaiters.push(cb);
  }

  allHosts(): UpstreamHost[] {
    return [...this.hostIndex.values()];
  }

  chooseHost(ctx?: LoadBalancerContext): UpstreamHost | undefined {
    const h = this.hostForContext ? this.hostForContext(ctx) : this.lb?.chooseHost(ctx);
    if (!h) this.stats.counter('upstream_cx_none_healthy').inc();
    return h;
  }

  /** `downstreamProtocol` is the downstream request's ("HTTP/1.1", "HTTP/2"), for use_downstream_protocol_config. */
  httpPool(host: UpstreamHost, downstreamProtocol?: string): HttpConnPool {
    return this.pools.get(host, protocolOfDownstream(downstreamProtocol));
  }

  connect(host: UpstreamHost): Socket {
    return connectTcp(host, this.transportSocket(host).tls, this.connectTimeoutMs, this.stats, this.source, this.keepAliveMs, hostStatsOf(host));
  }

  private transportSocket(host: UpstreamHost): { name: string; tls: TlsOptions | undefined } {
    return this.sockets?.forHost(host) ?? { name: 'default', tls: this.tls };
  }

  tryAcquire(resource: ResourceKind): (() => void) | undefined {
    return this.resources.tryAcquire(resource);
  }

  /** Retires the cluster: new requests go to its replacement, in-flight ones finish. */
  close(): void {
    this.onClose?.();
    this.health.close();
    this.pools.closeAll();
  }
}
