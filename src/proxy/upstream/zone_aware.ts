/**
 * Zone-aware routing (Envoy's common_lb_config.zone_aware_lb_config): send as much traffic as the
 * upstream can take to the caller's own locality, and the rest to the localities with spare
 * capacity, in proportion to how callers and upstream hosts are spread over localities. As in
 * Envoy it needs the local cluster (bootstrap cluster_manager.local_cluster_name: the caller's own
 * service, whose hosts by locality give the callers' spread) and the node's locality; without them
 * no zone-aware routing happens. Below min_cluster_size (6) healthy upstream hosts it is off too.
 */
import type { Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Locality, PriorityState } from './host_source.ts';

export function localityKey(l: UpstreamHost['locality'] | undefined): string {
  return `${l?.region ?? ''}/${l?.zone ?? ''}/${l?.sub_zone ?? ''}`;
}

/** Where the caller runs and how its own service's healthy hosts spread over localities. */
export interface LocalClusterView {
  /** localityKey of the node's locality. */
  locality: string;
  /** Healthy hosts of the local cluster per localityKey; undefined while unknown. */
  hostsPerLocality(): Map<string, number> | undefined;
}

export interface ZoneAwareConfig {
  local: LocalClusterView;
  /** Percent of requests that may be zone-routed (routing_enabled, default 100). */
  routingEnabled: number;
  minClusterSize: number;
}

/** The zone_aware_lb_config of a cluster, given the local cluster view (undefined: no routing). */
export function zoneAwareConfig(cluster: EnvoyJson, local: LocalClusterView | undefined): ZoneAwareConfig | undefined {
  if (!local) return undefined;
  const c = cluster.common_lb_config?.zone_aware_lb_config ?? {};
  const re = c.routing_enabled?.value;
  const mcs = c.min_cluster_size;
  return {
    local,
    routingEnabled: re === undefined ? 100 : Number(re),
    minClusterSize: mcs === undefined ? 6 : Number(typeof mcs === 'object' ? mcs.value : mcs),
  };
}

export class ZoneAwareRouting {
  constructor(
    private readonly cfg: ZoneAwareConfig,
    private readonly stats: Stats,
    private readonly random: () => number,
  ) {}

  /** The locality for this pick, or undefined for the whole priority (no zone routing). */
  chooseLocality(state: PriorityState): Locality | undefined {
    const localKey = this.cfg.local.locality;
    const mine = state.localities.find((l) => l.key === localKey);
    if (!mine || state.localities.length < 2) return undefined;
    if (this.random() * 100 >= this.cfg.routingEnabled) return undefined;
    if (state.healthy.length < this.cfg.minClusterSize) {
      this.stats.counter('lb_zone_cluster_too_small').inc();
      return undefined;
    }
    const local = this.cfg.local.hostsPerLocality();
    let localTotal = 0;
    for (const v of local?.values() ?? []) localTotal += v;
    if (!local || localTotal === 0) {
      this.stats.counter('lb_local_cluster_not_ok').inc();
      return undefined;
    }
    // No healthy upstream or no caller in our own locality: no zone routing (Envoy's
    // earlyExitNonLocalityRouting), never a pick of a locality with nothing healthy in it.
    if (mine.healthy.length === 0 || !local.get(localKey)) {
      this.stats.counter('lb_local_cluster_not_ok').inc();
      return undefined;
    }
    const upstreamTotal = state.healthy.length;
    const upPct = (l: Locality) => l.healthy.length / upstreamTotal;
    const localPct = (l: Locality) => (local.get(l.key) ?? 0) / localTotal;
    // The upstream's local share covers the callers' local share: everything stays local.
    if (upPct(mine) >= localPct(mine)) {
      this.stats.counter('lb_zone_routing_all_directly').inc();
      return mine;
    }
    // Otherwise keep upstream/local of the traffic local, and spread the rest over the
    // localities whose upstream share exceeds their callers' share (their residual capacity).
    if (this.random() < upPct(mine) / localPct(mine)) {
      this.stats.counter('lb_zone_routing_sampled').inc();
      return mine;
    }
    this.stats.counter('lb_zone_routing_cross_zone').inc();
    const residual = state.localities.map((l) => (l === mine ? 0 : Math.max(0, upPct(l) - localPct(l))));
    const total = residual.reduce((a, b) => a + b, 0);
    if (total <= 0) return undefined;
    let r = this.random() * total;
    for (let i = 0; i < residual.length; i++) {
      r -= residual[i];
      if (r < 0 && residual[i] > 0) return state.localities[i];
    }
    return undefined;
  }
}

/**
 * The local cluster view from the bootstrap: cluster_manager.local_cluster_name and the node's
 * locality. Undefined (no zone-aware routing, as Envoy) without a local cluster name.
 */
export function localClusterView(
  nodeLocality: { region?: string; zone?: string; sub_zone?: string } | undefined,
  localClusterName: string | undefined,
  hostsOf: (cluster: string) => UpstreamHost[] | undefined,
): LocalClusterView | undefined {
  if (!localClusterName) return undefined;
  return {
    locality: localityKey(nodeLocality),
    hostsPerLocality: () => {
      const hosts = hostsOf(localClusterName);
      if (!hosts) return undefined;
      const m = new Map<string, number>();
      for (const h of hosts) if (h.healthy) m.set(localityKey(h.locality), (m.get(localityKey(h.locality)) ?? 0) + 1);
      return m;
    },
  };
}
