/**
 * Clusters by name (Envoy's ClusterManagerImpl): static ones from the bootstrap, dynamic ones
 * from CDS, their endpoints from EDS. Warming follows Envoy: a new or changed cluster is built
 * aside and replaces the active one only once initialized (EDS assignment arrived, first DNS
 * answer, TLS secrets present), so traffic never sees an empty cluster during an update.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { ClusterManager, UpstreamHost } from '../interfaces.ts';
import type { StatsStore } from '../stats/stats_store.ts';
import type { SecretManager } from '../config/secret_manager.ts';
import { tlsContextOf } from '../tls/tls_context.ts';
import { buildTransportSockets, transportSocketsOf } from './transport_socket_match.ts';
import { log } from '../logger.ts';
import { ClusterImpl } from './cluster.ts';
import { durationMs } from '../duration.ts';
import { startDnsResolution } from './dns_cluster.ts';
import { DnsCacheManager } from './dns_cache.ts';
import { DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE, isDynamicForwardProxyCluster, setupDynamicForwardProxy } from './dynamic_forward_proxy_cluster.ts';
import { hostsFromAssignment } from './eds.ts';
import type { LocalClusterView } from './zone_aware.ts';
import { setupOriginalDst } from './original_dst_cluster.ts';

export interface EndpointsEntry {
  resource: EnvoyJson;
  version: string;
  lastUpdated: string;
}

/** What config_dump shows per cluster. */
export interface ClusterEntry {
  config: EnvoyJson;
  version: string;
  lastUpdated: string;
  isStatic: boolean;
}

export class ClusterManagerImpl implements ClusterManager {
  readonly active = new Map<string, ClusterImpl>();
  readonly warming = new Map<string, ClusterImpl>();
  /** Config as last accepted (active or warming), for config_dump and rebuilds. */
  readonly entries = new Map<string, ClusterEntry>();
  /** EDS assignments by service name, kept even while no cluster uses them yet. */
  readonly endpoints = new Map<string, EndpointsEntry>();
  /** Clusters waiting for an SDS secret: cluster name -> secret name. */
  private readonly awaitingSecret = new Map<string, string>();
  private readonly handlers = new Set<(name: string) => void>();
  private readonly warmWaiters: (() => void)[] = [];
  /** Dynamic forward proxy DNS caches by name, shared by the clusters that name them (Envoy's DnsCacheManager). */
  readonly dnsCaches: DnsCacheManager;
  /** Set by the server from the bootstrap (cluster_manager.local_cluster_name, node locality): zone-aware routing. */
  localCluster?: LocalClusterView;

  constructor(private readonly store: StatsStore, private readonly secrets: SecretManager) {
    this.dnsCaches = new DnsCacheManager(store);
    secrets.onChange((secret) => {
      for (const [name, e] of this.entries) {
        const sockets = transportSocketsOf(e.config);
        if (sockets.length && JSON.stringify(sockets).includes(JSON.stringify(secret))) this.addOrUpdate(e.config, e.version, e.isStatic, true);
      }
    });
    store.gauge('cluster_manager.active_clusters');
    store.gauge('cluster_manager.warming_clusters');
  }

  get(name: string): ClusterImpl | undefined {
    return this.active.get(name);
  }

  onChange(handler: (name: string) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** EDS service name of a cluster (eds_cluster_config.service_name, else the cluster name). */
  static edsName(config: EnvoyJson): string {
    return config.eds_cluster_config?.service_name || config.name;
  }

  /**
   * Adds or replaces a cluster (already validated). Unchanged config is a no-op, as in Envoy,
   * unless `force` (a referenced secret changed).
   */
  addOrUpdate(config: EnvoyJson, version: string, isStatic = false, force = false): void {
    const name: string = config.name;
    const prev = this.entries.get(name);
    if (!force && prev && JSON.stringify(prev.config) === JSON.stringify(config)) {
      prev.version = version;
      return;
    }
    this.entries.set(name, { config, version, lastUpdated: new Date().toISOString(), isStatic });
    // transport_socket and every transport_socket_matches entry (SDS secrets resolved now).
    const ts = buildTransportSockets(config, this.secrets);
    if (!ts.ok && ts.notReady) {
      // Stays warming until SDS delivers the secret, but like Envoy's initial_fetch_timeout
      // (15 s) it stops holding up initialization: the cluster then stays unusable (NC) rather
      // than keeping the whole proxy unready.
      this.awaitingSecret.set(name, ts.notReady);
      this.updateGauges();
      const ms = secretFetchTimeoutMs(config);
      if (ms > 0) setTimeout(() => this.secretTimedOut(name, ts.notReady!), ms).unref();
      return;
    }
    if (!ts.ok) {
      log.warnOnce(`cluster-tls-${name}`, `cluster ${name}: ${ts.error}`);
      return;
    }
    this.awaitingSecret.delete(name);
    const cluster = new ClusterImpl(name, config, this.store, ts.sockets.default.tls, version, ts.sockets, this.localCluster);
    this.warming.get(name)?.close();
    this.warming.set(name, cluster);
    this.updateGauges();
    cluster.whenInitialized(() => this.promote(cluster));
    // Found by name or by config type, as Envoy finds cluster extensions.
    switch (isDynamicForwardProxyCluster(config) ? DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE : cluster.type) {
      case 'EDS': {
        const eds = this.endpoints.get(ClusterManagerImpl.edsName(config));
        if (eds) cluster.setHosts(hostsFromAssignment(eds.resource, this.sharedHosts(name, config)));
        else {
          // Envoy's initial_fetch_timeout (15 s default): warm up empty rather than block init forever.
          const ms = durationMs(config.eds_cluster_config?.eds_config?.initial_fetch_timeout, 15_000);
          if (ms > 0) setTimeout(() => cluster.markInitialized(), ms).unref();
        }
        break;
      }
      case 'STRICT_DNS':
      case 'LOGICAL_DNS':
        startDnsResolution(cluster);
        break;
      case 'ORIGINAL_DST':
        setupOriginalDst(cluster);
        break;
      case DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE:
        setupDynamicForwardProxy(cluster, this.dnsCaches);
        break;
      default:
        cluster.setHosts(hostsFromAssignment(config.load_assignment));
    }
  }

  /**
   * The active cluster's hosts, for a replacement to carry their outlier state over; none when
   * either runs active health checks: the replacement's checker would mark hosts the serving
   * cluster still balances over as unchecked (and the old one's updates would clear its flags).
   */
  private sharedHosts(name: string, config: EnvoyJson): Map<string, UpstreamHost> | undefined {
    const active = this.active.get(name);
    if (!active) return undefined;
    if (active.config.health_checks?.length || config.health_checks?.length) return undefined;
    return active.hostIndex;
  }

  private secretTimedOut(name: string, secret: string): void {
    if (this.awaitingSecret.get(name) !== secret) return;
    this.awaitingSecret.delete(name);
    this.store.counter('cluster_manager.secret_initial_fetch_timeout').inc();
    log.warnOnce(`cluster-secret-timeout-${name}`, `cluster ${name}: secret ${secret} did not arrive in time (initial_fetch_timeout); initialization goes on without this cluster`);
    this.updateGauges();
    if (this.allWarm()) for (const w of this.warmWaiters.splice(0)) w();
  }

  private promote(cluster: ClusterImpl): void {
    if (this.warming.get(cluster.name) !== cluster) return;
    this.warming.delete(cluster.name);
    const old = this.active.get(cluster.name);
    this.active.set(cluster.name, cluster);
    // In-flight requests on the old cluster's pools finish; pools then close.
    old?.close();
    this.updateGauges();
    for (const h of this.handlers) h(cluster.name);
    if (this.allWarm()) for (const w of this.warmWaiters.splice(0)) w();
  }

  remove(name: string): void {
    if (this.entries.get(name)?.isStatic) return;
    this.entries.delete(name);
    this.awaitingSecret.delete(name);
    this.warming.get(name)?.stats.detach();
    this.warming.get(name)?.close();
    this.warming.delete(name);
    const c = this.active.get(name);
    c?.stats.detach();
    if (c) {
      this.active.delete(name);
      c.close();
      for (const h of this.handlers) h(name);
    }
    this.store.removeTagged('cluster', name);
    this.updateGauges();
    if (this.allWarm()) for (const w of this.warmWaiters.splice(0)) w();
  }

  /** Applies one ClusterLoadAssignment (EDS) to the clusters that use it. */
  applyEndpoints(cla: EnvoyJson, version: string): void {
    const service: string = cla.cluster_name;
    this.endpoints.set(service, { resource: cla, version, lastUpdated: new Date().toISOString() });
    for (const map of [this.warming, this.active]) {
      for (const c of map.values()) {
        if (c.type === 'EDS' && ClusterManagerImpl.edsName(c.config) === service) c.setHosts(hostsFromAssignment(cla, c.hostIndex));
      }
    }
  }

  removeEndpoints(service: string): void {
    this.endpoints.delete(service);
  }

  /** EDS names the active/warming clusters want (the EDS subscription). */
  edsNames(): string[] {
    const out = new Set<string>();
    for (const e of this.entries.values()) if ((e.config.type ?? 'STATIC') === 'EDS') out.add(ClusterManagerImpl.edsName(e.config));
    return [...out].sort();
  }

  allWarm(): boolean {
    return this.warming.size === 0 && this.awaitingSecret.size === 0;
  }

  /** Resolves when no cluster is warming (Envoy's cluster manager initialization). */
  whenWarm(cb: () => void): void {
    if (this.allWarm()) cb();
    else this.warmWaiters.push(cb);
  }

  private updateGauges(): void {
    this.store.gauge('cluster_manager.active_clusters').set(this.active.size);
    this.store.gauge('cluster_manager.warming_clusters').set(this.warming.size + this.awaitingSecret.size);
  }

  async shutdown(): Promise<void> {
    for (const c of [...this.active.values(), ...this.warming.values()]) {
      c.onClose?.();
      await c.pools.destroyAll();
    }
    this.active.clear();
    this.warming.clear();
  }
}

/**
 * The initial_fetch_timeout of the first SDS config in the cluster's TLS contexts (Envoy's
 * default 15 s). 0 means no limit, as in Envoy: Istio sets it for the workload certificate, so
 * a sidecar waits for its certificate instead of starting with clusters that cannot connect.
 */
export function secretFetchTimeoutMs(config: EnvoyJson): number {
  const commons = transportSocketsOf(config).map((t) => tlsContextOf(t)?.common_tls_context ?? {});
  const sds = commons.flatMap((common) => [...(common.tls_certificate_sds_secret_configs ?? []), common.validation_context_sds_secret_config, common.combined_validation_context?.validation_context_sds_secret_config]).find((c) => c?.sds_config?.initial_fetch_timeout);
  return durationMs(sds?.sds_config?.initial_fetch_timeout, 15_000);
}
