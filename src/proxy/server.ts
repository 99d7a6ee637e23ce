/**
 * The proxy process (Envoy's Server::InstanceImpl): owns stats, secrets, routes, clusters,
 * listeners and the xDS manager; loads static resources, subscribes to ADS, runs Envoy's init
 * sequence (clusters warm before listeners), serves the admin API, and drains on shutdown.
 * With --concurrency the primary runs xDS and admin while workers (src/proxy/worker.ts) serve
 * traffic; `role` says which part this instance plays.
 */
import { TYPE, type EnvoyJson } from '../xds/types.ts';
import type { ParsedBootstrap } from './bootstrap.ts';
import { StatsStore } from './stats/stats_store.ts';
import { SecretManager } from './config/secret_manager.ts';
import { RouteConfigProviderImpl } from './config/route_config_provider.ts';
import { XdsManager, type ApplyResult } from './config/xds_manager.ts';
import { subscribeAds, type AdsSubscription } from './config/ads_subscription.ts';
import type { WatchHandlers } from '../xds/client/types.ts';
import { SdsSubscriptions } from './config/sds_subscription.ts';
import { ClusterManagerImpl } from './upstream/cluster_manager.ts';
import { localClusterView } from './upstream/zone_aware.ts';
import { ListenerManager } from './listener/listener_manager.ts';
import { loadNetworkFilters } from './filters/network/builtin.ts';
import { releaseEnvoyRoot } from '../xds/protos.ts';
import { ISTIO_XDS } from '../xds/type_urls.ts';
import { log } from './logger.ts';
import { flushAccessLogs } from './http/common/access_log.ts';
import { closeTracingDrivers } from './tracing/driver.ts';
import { ERR, TsmeshError } from '../api/errors.ts';

/** On shutdown, how long a proxy that has withdrawn from the control plane keeps accepting (peers' EDS pushes take well under this). */
const WITHDRAW_GRACE_MS = 3000;

export type ServerState = 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';
const STATE_CODE: Record<ServerState, number> = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2, INITIALIZING: 3 };

export interface ServerOptions {
  bootstrap: ParsedBootstrap;
  /** --drain-time-s in milliseconds (default 5000). */
  drainMs: number;
  role?: 'standalone' | 'primary' | 'worker';
  concurrency?: number;
  commandLine?: string[];
  explicitProxy?: boolean;
  /** Envoy's initial_fetch_timeout for the first CDS/LDS response (default 15 s). */
  initialFetchTimeoutMs?: number;
  /** Further wildcard watches on the ADS stream for the agent (Istio's NDS name table for the DNS proxy). */
  agentWatches?: ReadonlyArray<{ typeUrl: string; handlers: WatchHandlers }>;
  /** ADS over TLS to the control plane's secure port, with the workload's certificate. */
  adsTls?: import('../xds/client/transport.ts').XdsTls;
}

export class ProxyServer {
  readonly store = new StatsStore();
  readonly secrets = new SecretManager();
  readonly routes = new RouteConfigProviderImpl();
  readonly clusters: ClusterManagerImpl;
  readonly listeners: ListenerManager;
  readonly xds: XdsManager;
  readonly startTime = Date.now();
  state: ServerState = 'PRE_INITIALIZING';
  /** /healthcheck/fail sets this; /ready then answers 503. */
  healthCheckFailed = false;
  private ads?: AdsSubscription;
  /** SDS streams to gRPC config-source clusters (Istio's sds-grpc: the agent's socket). */
  private sds?: SdsSubscriptions;
  private readonly liveWaiters: (() => void)[] = [];

  constructor(readonly opts: ServerOptions) {
    const role = opts.role ?? 'standalone';
    this.clusters = new ClusterManagerImpl(this.store, this.secrets);
    const bootstrap = opts.bootstrap.bootstrap;
    this.clusters.localCluster = localClusterView(opts.bootstrap.node.locality as EnvoyJson | undefined, bootstrap?.cluster_manager?.local_cluster_name, (n) => this.clusters.get(n)?.allHosts());
    this.listeners = new ListenerManager(
      { store: this.store, secrets: this.secrets, ctx: { clusterManager: this.clusters, routes: this.routes, stats: this.store, node: opts.bootstrap.node as EnvoyJson } },
      this.routes,
      { drainMs: opts.drainMs, explicitProxy: opts.explicitProxy, bind: role !== 'primary' },
    );
    this.xds = new XdsManager(this.store, this.clusters, this.listeners, this.routes, this.secrets);
    this.store.gauge('server.live');
    this.store.gauge('server.concurrency').set(opts.concurrency ?? 1);
    this.setState('PRE_INITIALIZING');
  }

  private setState(s: ServerState): void {
    this.state = s;
    this.store.gauge('server.state').set(STATE_CODE[s]);
    this.store.gauge('server.live').set(s === 'LIVE' ? 1 : 0);
  }

  /** Loads static resources (throws on invalid ones: startup config errors are fatal) and starts xDS. */
  async start(): Promise<void> {
    await loadNetworkFilters();
    const b = this.opts.bootstrap;
    this.setState('INITIALIZING');
    const load = (typeUrl: string, resources: EnvoyJson[]) => {
      const upserts: [string, EnvoyJson][] = resources.map((r) => [r.name, r]);
      const v = this.xds.validate(typeUrl, upserts);
      if (!v.ok) throw new Error(`static_resources: ${v.error}`);
      this.xds.apply(typeUrl, upserts, [], '', true);
    };
    load(TYPE.SECRET, b.secrets);
    load(TYPE.CLUSTER, b.clusters);
    const role = this.opts.role ?? 'standalone';
    // Workers get secrets from the primary, like every other resource.
    if (role !== 'worker') this.sds = new SdsSubscriptions(this.xds, b.node, b.clusters);
    await this.sds?.follow();
    const fetchTimeout = this.opts.initialFetchTimeoutMs ?? 15_000;
    const bounded = (p: Promise<void>) => Promise.race([p, new Promise<void>((r) => setTimeout(r, fetchTimeout).unref())]);
    // Envoy: static clusters warm first, then CDS (and its EDS), then listeners (and their RDS).
    await new Promise<void>((r) => this.clusters.whenWarm(r));
    if (b.ads && role !== 'worker') {
      const { AdsClient } = await import('../xds/client/index.ts');
      const client = new AdsClient({ address: b.ads.address, node: b.node, mode: b.ads.mode, ...(this.opts.adsTls ? { tls: this.opts.adsTls } : {}) });
      for (const w of this.opts.agentWatches ?? []) client.watch(w.typeUrl, '*', w.handlers);
      this.ads = subscribeAds(client, this.xds, { cds: b.cdsAds, lds: b.ldsAds });
      if (b.cdsAds) await bounded(this.ads.firstUpdate(TYPE.CLUSTER));
      await new Promise<void>((r) => this.clusters.whenWarm(r));
    }
    load(TYPE.LISTENER, b.listeners);
    await this.sds?.follow();
    if (this.ads && b.ldsAds) await bounded(this.ads.firstUpdate(TYPE.LISTENER));
    await new Promise<void>((r) => this.listeners.whenWarm(r));
    await this.listeners.listening();
    // A static listener that cannot bind is a startup failure (Envoy exits); name the address.
    for (const l of b.listeners) {
      const e = this.listeners.bindErrors.get(l.name);
      if (!e) continue;
      const sa = l.address?.socket_address ?? {};
      const where = `${sa.address}:${sa.port_value ?? 0}`;
      if (e.code === 'EADDRINUSE') throw new TsmeshError(ERR.ADDRESS_IN_USE, `listener ${l.name}: address ${where} is already in use (port ${sa.port_value})`);
      throw new TsmeshError(ERR.INVALID_BOOTSTRAP, `listener ${l.name}: cannot listen on ${where}: ${e.message}`);
    }
    // Static bootstrap, no xDS: the protos served validation only; free their heap (RSS aim).
    if (!b.ads && !this.sds?.active) releaseEnvoyRoot();
    this.setState('LIVE');
    for (const w of this.liveWaiters.splice(0)) w();
  }

  /**
   * The workload's health as the agent's probe sees it, reported to the control plane on this
   * proxy's ADS stream (Istio's HealthInformation request). No ADS: nowhere to report, ignored.
   */
  reportHealth(healthy: boolean, message = 'unhealthy'): void {
    this.ads?.report(ISTIO_XDS.HEALTH_INFO, healthy ? undefined : { code: 500, message });
  }

  whenLive(): Promise<void> {
    return this.state === 'LIVE' ? Promise.resolve() : new Promise((r) => this.liveWaiters.push(r));
  }

  /** The programmatic config API (see XdsManager.setState). */
  setResources(typeUrl: string, resources: EnvoyJson[], version: string): ApplyResult {
    return this.xds.setState(typeUrl, resources, version);
  }

  uptimeSeconds(): number {
    return Math.floor((Date.now() - this.startTime) / 1000);
  }

  /** Refreshes gauges computed on scrape. */
  refreshServerStats(): void {
    this.store.gauge('server.uptime').set(this.uptimeSeconds());
    this.store.gauge('server.memory_allocated').set(process.memoryUsage().heapUsed);
    this.store.gauge('server.memory_heap_size').set(process.memoryUsage().heapTotal);
    let cx = 0;
    for (const l of this.listeners.active.values()) cx += l.connectionCount();
    this.store.gauge('server.total_connections').set(cx);
  }

  /** /drain_listeners: drain every listener (stop accepting unless graceful keeps them open for drain time). */
  async drainListeners(graceful: boolean): Promise<void> {
    if (graceful) {
      this.setState('DRAINING');
      await this.listeners.drainAll(this.opts.drainMs, false);
    }
    await this.listeners.drainAll(graceful ? 0 : this.opts.drainMs, true);
  }

  /**
   * How long a proxy keeps accepting after it withdraws from the control plane on shutdown:
   * only one with an xDS stream (auto-registration lists its workload until that stream ends)
   * and a drain time. Workers of a `--concurrency` proxy get the primary's figure.
   */
  withdrawGraceMs(drainMs = this.opts.drainMs): number {
    return this.ads && drainMs > 0 ? Math.min(drainMs / 2, WITHDRAW_GRACE_MS) : 0;
  }

  /**
   * Shutdown (SIGTERM, /quitquitquit): stop accepting, let in-flight work finish within the
   * drain time, then close upstream pools.
   *
   * Peers keep routing here while the control plane lists this proxy's workload, and until that
   * push reaches their sidecars; refusing connections at once would fail those requests. So, like
   * Istio's terminationDrainDuration: end the xDS stream first (the endpoint is withdrawn), keep
   * accepting for `graceMs` with every response saying Connection: close, then stop accepting
   * and let in-flight work finish within the rest of the drain time.
   */
  async shutdown(drainMs = this.opts.drainMs, graceMs = this.withdrawGraceMs(drainMs)): Promise<void> {
    this.setState('DRAINING');
    log.debug(`draining listeners for up to ${drainMs} ms (accepting for ${graceMs} ms more)`);
    this.ads?.close();
    this.ads = undefined;
    this.sds?.close();
    if (graceMs > 0) {
      void this.listeners.drainAll(drainMs, false);
      await new Promise((r) => setTimeout(r, graceMs));
      await this.listeners.drainAll(Math.max(0, drainMs - graceMs), true);
    } else {
      await this.listeners.drainAll(drainMs, true);
    }
    // The drained streams' spans: sent (through the clusters, so before they close) and waited for, bounded.
    await closeTracingDrivers(this.store);
    await this.clusters.shutdown();
    // The drained streams' access-log lines are queued for the next turn: write them before exit.
    await flushAccessLogs();
  }
}
