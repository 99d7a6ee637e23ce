/**
 * Load balancers keyed by Cluster.lb_policy (Envoy's names), so the resilience work can register
 * LEAST_REQUEST, RING_HASH, MAGLEV... beside ROUND_ROBIN and RANDOM. Each picks among the hosts
 * of the best priority that has healthy hosts; below Envoy's 50% panic threshold it uses all.
 * LEAST_REQUEST lives in least_request.ts, RING_HASH in ring_hash.ts, MAGLEV in maglev.ts (their
 * shared hashing in consistent_hash.ts); they register themselves, so importers of the registry
 * (cluster.ts, config/validation.ts) import those files for their side effect.
 */
import type { LoadBalancerContext, Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { CLUSTER_EXT } from '../../xds/type_urls.ts';

export interface LoadBalancer {
  chooseHost(ctx?: LoadBalancerContext): UpstreamHost | undefined;
  /** Called when the host set changes; hosts grouped by priority (index 0 = highest). */
  update(priorities: UpstreamHost[][]): void;
}

/** Active requests on a host (from its connection pool), for load-aware policies. */
export type HostLoad = (host: UpstreamHost) => number;

export type LoadBalancerFactory = (cluster: EnvoyJson, stats: Stats, load: HostLoad) => LoadBalancer;

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

const PANIC_THRESHOLD = 0.5;

/**
 * Picks the candidate set: the first priority with any healthy host; within it the healthy hosts,
 * or every host when fewer than 50% are healthy (panic mode, counted in lb_healthy_panic).
 */
export function candidateHosts(priorities: UpstreamHost[][], stats: Stats): UpstreamHost[] {
  for (const hosts of priorities) {
    if (hosts.length === 0) continue;
    let healthy = 0;
    for (const h of hosts) if (h.healthy) healthy++;
    if (healthy === 0) continue;
    if (healthy / hosts.length < PANIC_THRESHOLD) {
      stats.counter('lb_healthy_panic').inc();
      return hosts;
    }
    return healthy === hosts.length ? hosts : hosts.filter((h) => h.healthy);
  }
  const all = priorities.flat();
  if (all.length) stats.counter('lb_healthy_panic').inc();
  return all;
}

/**
 * Weighted round robin. Equal weights: a plain rotating index. Unequal weights: smooth weighted
 * round robin, which interleaves hosts instead of sending bursts to the heaviest.
 */
export class RoundRobinLoadBalancer implements LoadBalancer {
  private hosts: UpstreamHost[] = [];
  private weighted = false;
  private current = new Map<UpstreamHost, number>();
  private index = 0;
  private priorities: UpstreamHost[][] = [];

  constructor(private readonly stats: Stats) {}

  update(priorities: UpstreamHost[][]): void {
    this.priorities = priorities;
    this.refresh();
  }

  private refresh(): void {
    this.hosts = candidateHosts(this.priorities, this.stats);
    this.weighted = this.hosts.some((h) => h.weight !== this.hosts[0].weight);
    this.current = new Map();
  }

  chooseHost(ctx?: LoadBalancerContext): UpstreamHost | undefined {
    // Health may change between updates (health checking, outlier detection); recompute cheaply.
    if (this.hosts.some((h) => !h.healthy)) this.refresh();
    const hosts = this.hosts;
    const n = hosts.length;
    if (n === 0) return undefined;
    const exclude = ctx?.excludeHosts;
    for (let attempt = 0; attempt < n; attempt++) {
      const h = this.weighted ? this.nextWeighted() : hosts[this.index++ % n];
      if (!exclude || !exclude.has(h) || attempt === n - 1) return h;
    }
    return undefined;
  }

  private nextWeighted(): UpstreamHost {
    let total = 0;
    let best: UpstreamHost | undefined;
    let bestW = -Infinity;
    for (const h of this.hosts) {
      const w = (this.current.get(h) ?? 0) + h.weight;
      this.current.set(h, w);
      total += h.weight;
      if (w > bestW) {
        bestW = w;
        best = h;
      }
    }
    this.current.set(best!, bestW - total);
    return best!;
  }
}

export class RandomLoadBalancer implements LoadBalancer {
  private hosts: UpstreamHost[] = [];
  constructor(private readonly stats: Stats, private readonly random: () => number = Math.random) {}
  update(priorities: UpstreamHost[][]): void {
    this.hosts = candidateHosts(priorities, this.stats);
  }
  chooseHost(): UpstreamHost | undefined {
    const n = this.hosts.length;
    return n ? this.hosts[Math.floor(this.random() * n)] : undefined;
  }
}

registerLoadBalancer('ROUND_ROBIN', (_c, stats) => new RoundRobinLoadBalancer(stats));
registerLoadBalancer('RANDOM', (_c, stats) => new RandomLoadBalancer(stats));
