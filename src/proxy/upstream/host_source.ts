/**
 * Which hosts one pick draws from (Envoy's ZoneAwareLoadBalancerBase::hostSourceToUse): a priority
 * chosen by priority load (priority_load.ts), then that priority's healthy or degraded hosts, all
 * its hosts in panic, or — with common_lb_config.locality_weighted_lb_config — one locality picked
 * by its load_balancing_weight × availability. Zone-aware routing (zone_aware.ts) narrows the pick
 * to the caller's own locality when the local cluster allows it. ROUND_ROBIN, LEAST_REQUEST and
 * RANDOM extend this and only choose a host within the source.
 */
import type { LoadBalancerContext, Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { LoadBalancer } from './load_balancer.ts';
import { choosePriority, computePriorityLoad, isDegraded, isFullyHealthy, panicThreshold, policyOf, type AssignmentPolicy, type PriorityLoad } from './priority_load.ts';
import { noteJoined } from './slow_start.ts';
import { localityLbWeight } from './eds.ts';
import { localityKey, ZoneAwareRouting, type ZoneAwareConfig } from './zone_aware.ts';

export interface Locality {
  key: string;
  /** LocalityLbEndpoints.load_balancing_weight (0 when unset). */
  weight: number;
  hosts: UpstreamHost[];
  healthy: UpstreamHost[];
  degraded: UpstreamHost[];
  /** What a pick of this locality returns (made with the priority state, not per request). */
  healthySource?: HostSource;
  degradedSource?: HostSource;
}

export interface PriorityState {
  hosts: UpstreamHost[];
  healthy: UpstreamHost[];
  degraded: UpstreamHost[];
  localities: Locality[];
  /** The sources a pick in this priority returns, made once per update (no object per request). */
  all: HostSource;
  healthySource: HostSource;
  degradedSource: HostSource;
  /** With locality_weighted_lb_config: the locality schedulers for healthy and degraded picks. */
  healthyLocalities?: LocalityScheduler;
  degradedLocalities?: LocalityScheduler;
}


function priorityState(hosts: UpstreamHost[], priority: number, localityWeighted: boolean, overprovisioning: number): PriorityState {
  const byKey = new Map<string, Locality>();
  const localities: Locality[] = [];
  for (const h of hosts) {
    const key = localityKey(h.locality);
    let l = byKey.get(key);
    if (!l) {
      l = { key, weight: localityLbWeight.get(h) ?? 0, hosts: [], healthy: [], degraded: [] };
      byKey.set(key, l);
      localities.push(l);
    }
    l.hosts.push(h);
    if (isDegraded(h)) l.degraded.push(h);
    else if (h.healthy) l.healthy.push(h);
  }
  const healthy = hosts.filter(isFullyHealthy);
  const degraded = hosts.filter(isDegraded);
  for (const l of localities) {
    l.healthySource = { hosts: l.healthy, key: `${priority}|h|${l.key}` };
    l.degradedSource = { hosts: l.degraded, key: `${priority}|d|${l.key}` };
  }
  const f = overprovisioning / 100;
  return {
    hosts,
    healthy,
    degraded,
    localities,
    all: { hosts, key: `${priority}|all` },
    healthySource: { hosts: healthy, key: `${priority}|h` },
    degradedSource: { hosts: degraded, key: `${priority}|d` },
    ...(localityWeighted
      ? { healthyLocalities: new LocalityScheduler(localities, localityWeights(localities, f, false)), degradedLocalities: new LocalityScheduler(localities, localityWeights(localities, f, true)) }
      : {}),
  };
}

/**
 * Smooth weighted round robin over localities (deterministic like Envoy's EDF scheduler). The
 * effective weights (load_balancing_weight × availability × overprovisioning) are fixed per host
 * set update, so a pick is one pass over a small array.
 */
export class LocalityScheduler {
  private readonly current: number[];
  constructor(
    private readonly localities: Locality[],
    private readonly weights: number[],
  ) {
    this.current = new Array<number>(localities.length).fill(0);
  }
  pick(): Locality | undefined {
    let total = 0;
    let best = -1;
    let bestW = -Infinity;
    for (let i = 0; i < this.localities.length; i++) {
      const w = this.weights[i]!;
      if (w <= 0) continue;
      const c = (this.current[i] += w);
      total += w;
      if (c > bestW) {
        bestW = c;
        best = i;
      }
    }
    if (best < 0) return undefined;
    this.current[best] = bestW - total;
    return this.localities[best];
  }
}

/** A locality's weight for a pick among its healthy (or degraded) hosts: weight × min(1, f × share). */
function localityWeights(localities: Locality[], f: number, degraded: boolean): number[] {
  return localities.map((loc) => {
    const eligible = degraded ? loc.degraded.length : loc.healthy.length;
    return loc.hosts.length === 0 ? 0 : loc.weight * Math.min(1, (f * eligible) / loc.hosts.length);
  });
}

/**
 * Picks per choice when a retry must avoid hosts already tried: Istio's default
 * host_selection_retry_max_attempts (5) plus the first (the context does not carry the route's).
 */
export const HOST_SELECTION_ATTEMPTS = 6;

const sameWeightCache = new WeakMap<UpstreamHost[], boolean>();

/**
 * Do all hosts of a source weigh the same? Cached per host array: the arrays are rebuilt on every
 * update (where weights can change), so the hot path does not rescan them per request.
 */
export function sameWeights(hosts: UpstreamHost[]): boolean {
  let v = sameWeightCache.get(hosts);
  if (v === undefined) {
    v = hosts.every((h) => h.weight === hosts[0].weight);
    sameWeightCache.set(hosts, v);
  }
  return v;
}

export interface HostSource {
  hosts: UpstreamHost[];
  /** Identifies the source, for per-source state (round robin positions). */
  key: string;
}

export abstract class HostSourceLoadBalancer implements LoadBalancer {
  protected states: PriorityState[] = [];
  private priorities: UpstreamHost[][] = [];
  private policy: AssignmentPolicy = policyOf([]);
  private priorityLoad: PriorityLoad = { healthy: [100], degraded: [0], panic: [false] };
  private readonly threshold: number;
  private readonly localityWeighted: boolean;
  private readonly zoneAware: ZoneAwareRouting | undefined;

  constructor(
    protected readonly stats: Stats,
    cluster: EnvoyJson,
    protected readonly random: () => number = Math.random,
    zoneAware?: ZoneAwareConfig,
  ) {
    this.threshold = panicThreshold(cluster);
    this.localityWeighted = cluster.common_lb_config?.locality_weighted_lb_config !== undefined;
    this.zoneAware = zoneAware && !this.localityWeighted ? new ZoneAwareRouting(zoneAware, stats, random) : undefined;
  }

  update(priorities: UpstreamHost[][]): void {
    this.priorities = priorities;
    this.policy = policyOf(priorities);
    for (const hs of priorities) for (const h of hs) noteJoined(h);
    this.states = priorities.map((hs, i) => priorityState(hs, i, this.localityWeighted, this.policy.overprovisioningFactor));
    this.priorityLoad = computePriorityLoad(priorities, this.policy, this.threshold);
    this.onUpdate();
  }

  /** Subclasses reset per-source state here. */
  protected onUpdate(): void {}

  /** Chooses a host among `source.hosts` (non-empty). */
  protected abstract pickFrom(source: HostSource, ctx: LoadBalancerContext | undefined): UpstreamHost | undefined;

  chooseHost(ctx?: LoadBalancerContext): UpstreamHost | undefined {
    const source = this.hostSource(ctx);
    if (!source || source.hosts.length === 0) return undefined;
    const exclude = ctx?.excludeHosts;
    // Retries with previous_hosts: choose again a bounded number of times, then take the last pick.
    const attempts = exclude?.size ? HOST_SELECTION_ATTEMPTS : 1;
    let h: UpstreamHost | undefined;
    for (let i = 0; i < attempts; i++) {
      h = this.pickFrom(source, ctx);
      if (!h || !exclude?.has(h)) return h;
    }
    return h;
  }

  /** The hosts this pick draws from, or undefined when there are none. */
  hostSource(ctx?: LoadBalancerContext): HostSource | undefined {
    if (this.states.length === 0) return undefined;
    const load = ctx?.previousPriorities?.size ? computePriorityLoad(this.priorities, this.policy, this.threshold, ctx.previousPriorities) : this.priorityLoad;
    const { priority, degraded } = choosePriority(Math.floor(this.random() * 100), load);
    const state = this.states[priority];
    if (!state) return undefined;
    if (load.panic[priority]) {
      this.stats.counter('lb_healthy_panic').inc();
      return state.all;
    }
    if (this.localityWeighted) {
      const l = (degraded ? state.degradedLocalities : state.healthyLocalities)?.pick();
      if (l) return degraded ? l.degradedSource! : l.healthySource!;
    }
    // Zone routing only while priority 0 takes all the load (Envoy).
    if (this.zoneAware && priority === 0 && !degraded && load.healthy[0] === 100) {
      const l = this.zoneAware.chooseLocality(state);
      if (l) return l.healthySource ?? { hosts: l.healthy, key: `${priority}|h|${l.key}` };
    }
    return degraded ? state.degradedSource : state.healthySource;
  }
}
