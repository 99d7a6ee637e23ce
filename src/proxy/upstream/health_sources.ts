/**
 * A cluster's own health sources, built from its config: the outlier detector (outlier_detection)
 * and the active health checker (health_checks). ClusterImpl holds one of these and calls it on
 * every host set and on close; keeping the wiring here keeps cluster.ts small.
 */
import type { Socket } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Stats, UpstreamHost } from '../interfaces.ts';
import { HealthFlag, setHealthFlag } from './host_health.ts';
import { HealthChecker } from './health_checker.ts';
import { OutlierDetector } from './outlier_detection.ts';

export interface HealthSourceCluster {
  readonly name: string;
  readonly stats: Stats;
  allHosts(): UpstreamHost[];
  hostHealthChanged(): void;
  /** A connection to the host for health checks, not counted as traffic. */
  connectForHealthCheck(host: UpstreamHost): Socket;
}

export class HealthSources {
  readonly outlier: OutlierDetector | undefined;
  readonly checker: HealthChecker | undefined;

  constructor(config: EnvoyJson, cluster: HealthSourceCluster) {
    this.outlier = config.outlier_detection ? new OutlierDetector(config.outlier_detection, cluster) : undefined;
    const hc = config.health_checks?.[0];
    this.checker = hc
      ? new HealthChecker(
          hc,
          {
            name: cluster.name,
            stats: cluster.stats,
            connect: (h) => cluster.connectForHealthCheck(h),
            hasTraffic: () => cluster.stats.counter('upstream_cx_total').value() > 0,
            hostHealthChanged: () => cluster.hostHealthChanged(),
          },
          {
            ignoreNewHostsUntilFirstHc: config.common_lb_config?.ignore_new_hosts_until_first_hc === true,
            onCheck: (h, healthy) => {
              if (healthy) this.outlier?.onActiveHealthCheckSuccess(h);
            },
          },
        )
      : undefined;
  }

  /**
   * A new host set, before the load balancers see it. Host objects are shared with the cluster this
   * one replaces, so flags from a health source this cluster does not have are cleared.
   */
  onHosts(iterable: Iterable<UpstreamHost>): void {
    const hosts = [...iterable];
    if (!this.checker || !this.outlier) {
      for (const h of hosts) {
        if (!h.healthFlags) continue; // the common case: nothing to clear
        if (!this.checker) {
          setHealthFlag(h, HealthFlag.FAILED_ACTIVE_HC, false);
          setHealthFlag(h, HealthFlag.PENDING_ACTIVE_HC, false);
          setHealthFlag(h, HealthFlag.DEGRADED_ACTIVE_HC, false);
        }
        if (!this.outlier) setHealthFlag(h, HealthFlag.FAILED_OUTLIER_CHECK, false);
      }
    }
    this.checker?.setHosts(hosts);
  }

  /** Runs `cb` when the cluster may be used: at once, or after the first health check round. */
  whenReady(cb: () => void): void {
    if (this.checker) this.checker.whenInitialChecksDone(cb);
    else cb();
  }

  close(): void {
    this.outlier?.close();
    this.checker?.close();
  }
}
