/**
 * Load balancers keyed by Cluster.lb_policy (Envoy's names), so the resilience work can register
 * LEAST_REQUEST, RING_HASH, MAGLEV... beside ROUND_ROBIN and RANDOM. Priority load, panic and
 * locality weights are Envoy's (priority_load.ts, host_source.ts); the policies here only choose
 * within the host source.
 * LEAST_REQUEST lives in least_request.ts, RING_HASH in ring_hash.ts, MAGLEV in maglev.ts (their
 * shared hashing in consistent_hash.ts); they register themselves, so importers of the registry
 * (cluster.ts, config/validation.ts) import those files for their side effect.
 */
import type { LoadBalancerContext, Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { CLUSTER_EXT } from '../../xds/type_urls.ts';
import { HostSourceLoadBalancer, sameWeights, type HostSource } from './host_source.ts';
import { rampEndsAt, slowStartConfig, slowStartFactor, type SlowStartConfig } from './slow_start.ts';
import { zoneAwareConfig, type LocalClusterView, type ZoneAwareConfig } from './zone_aware.ts';

export interface LoadBalancer {
  chooseHost(ctx?: LoadBalancerContext): UpstreamHost | undefined;
  /** Called when the host set changes; hosts grouped by priority (index 0 = highest). */
  update(priorities: UpstreamHost[][]): void;
}

/** Active requests on a host (from its connection pool), for load-aware policies. */
export type HostLoad = (host: UpstreamHost) => number;

/** `local`: the caller's own cluster and locality, for zone-aware routing (bootstrap local_cluster_name). */
export type LoadBalancerFactory = (cluster: EnvoyJson, stats: Stats, load: HostLoad, local?: LocalClusterView) => LoadBalancer;

const registry = new Map<string, LoadBalancerFactory>();

export function registerLoadBalancer(lbPolicy: string, factory: LoadBalancerFactory): void {
  registry.set(lbPolicy, factory);
}

export function loadBalancerFactory(lbPolicy: string): LoadBalancerFactory | undefined {
  return registry.get(lbPolicy);
}

export function knownLbPolicies(): string[] {
  return [...registry.keys()];
}

/** Typed load_balancing_policy extensions mapped onto the lb_policy names of the registry. */
const TYPED_LB: Record<string, string> = {
  [CLUSTER_EXT.ROUND_ROBIN]: 'ROUND_ROBIN',
  [CLUSTER_EXT.LEAST_REQUEST]: 'LEAST_REQUEST',
  [CLUSTER_EXT.RANDOM]: 'RANDOM',
  [CLUSTER_EXT.RING_HASH]: 'RING_HASH',
  [CLUSTER_EXT.MAGLEV]: 'MAGLEV',
};

/** The typed load_balancing_policy config of `typeUrl`, if the cluster uses that form. */
export function typedLbConfig(cluster: { load_balancing_policy?: { policies?: any[] } }, typeUrl: string): Record<string, any> | undefined {
  for (const p of cluster.load_balancing_policy?.policies ?? []) {
    const tc = p?.typed_extension_config?.typed_config;
    if (tc?.['@type'] === typeUrl) return tc;
  }
  return undefined;
}

/** The lb_policy a cluster asks for, reading load_balancing_policy when lb_policy is LOAD_BALANCING_POLICY_CONFIG. */
export function effectiveLbPolicy(c: EnvoyJson): string {
  if (c.lb_policy === 'LOAD_BALANCING_POLICY_CONFIG' || (!c.lb_policy && c.load_balancing_policy)) {
    for (const p of c.load_balancing_policy?.policies ?? []) {
      const name = TYPED_LB[p.typed_extension_config?.typed_config?.['@type']];
      if (name) return name;
    }
  }
  return c.lb_policy ?? 'ROUND_ROBIN';
}

/**
 * Weighted round robin within the host source (priority, locality; host_source.ts). Equal
 * weights: a rotating index per source. Unequal weights (or hosts in slow start): smooth weighted
 * round robin, which interleaves hosts like Envoy's EDF scheduler instead of sending bursts.
 */
export class RoundRobinLoadBalancer extends HostSourceLoadBalancer {
  private readonly index = new Map<string, number>();
  private readonly current = new Map<string, Map<UpstreamHost, number>>();

  constructor(stats: Stats, cluster: EnvoyJson = {}, random?: () => number, private readonly slowStart?: SlowStartConfig, zoneAware?: ZoneAwareConfig) {
    super(stats, cluster, random, zoneAware);
  }

  /** Until when some host is in its slow-start window (rampEndsAt). */
  private rampEnds = 0;

  protected override onUpdate(): void {
    this.current.clear();
    this.rampEnds = rampEndsAt(this.states, this.slowStart);
  }

  protected pickFrom(source: HostSource): UpstreamHost | undefined {
    const hosts = source.hosts;
    const ss = this.slowStart;
    const now = ss ? Date.now() : 0;
    const ramping = ss !== undefined && now < this.rampEnds;
    const weightOf = ramping ? (h: UpstreamHost) => h.weight * slowStartFactor(h, ss, now) : plainWeight;
    if (ramping ? hosts.every((h) => weightOf(h) === weightOf(hosts[0])) : sameWeights(hosts)) {
      const i = this.index.get(source.key) ?? 0;
      this.index.set(source.key, i + 1);
      return hosts[i % hosts.length];
    }
    let cur = this.current.get(source.key);
    if (!cur) this.current.set(source.key, (cur = new Map()));
    return smoothWeightedPick(hosts, weightOf, cur);
  }
}

const plainWeight = (h: UpstreamHost): number => h.weight;

/**
 * One step of smooth weighted round robin: every host earns its weight, the richest is picked and
 * pays the total. Over any window each host is picked in proportion to its weight.
 */
export function smoothWeightedPick(hosts: UpstreamHost[], weightOf: (h: UpstreamHost) => number, current: Map<UpstreamHost, number>): UpstreamHost {
  let total = 0;
  let best = hosts[0];
  let bestW = -Infinity;
  for (const h of hosts) {
    const wt = weightOf(h);
    const w = (current.get(h) ?? 0) + wt;
    current.set(h, w);
    total += wt;
    if (w > bestW) {
      bestW = w;
      best = h;
    }
  }
  current.set(best, bestW - total);
  return best;
}

export class RandomLoadBalancer extends HostSourceLoadBalancer {
  constructor(stats: Stats, cluster: EnvoyJson = {}, random: () => number = Math.random, zoneAware?: ZoneAwareConfig) {
    super(stats, cluster, random, zoneAware);
  }
  protected pickFrom(source: HostSource): UpstreamHost | undefined {
    return source.hosts[Math.floor(this.random() * source.hosts.length)];
  }
}

registerLoadBalancer('ROUND_ROBIN', (c, stats, _load, local) => new RoundRobinLoadBalancer(stats, c, undefined, slowStartConfig(c, typedLbConfig(c, CLUSTER_EXT.ROUND_ROBIN)), zoneAwareConfig(c, local)));
registerLoadBalancer('RANDOM', (c, stats, _load, local) => new RandomLoadBalancer(stats, c, undefined, zoneAwareConfig(c, local)));
