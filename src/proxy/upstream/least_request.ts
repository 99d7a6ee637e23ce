/**
 * LEAST_REQUEST (Istio's default lb_policy), as Envoy: within the host source (priority,
 * locality; host_source.ts), when all hosts weigh the same, sample choice_count (default 2) hosts
 * at random and take the one with the fewest active requests (power of two choices); when weights
 * differ (or slow start scales them), weighted round robin with each host's weight divided by
 * (active requests + 1)^active_request_bias (default 1.0), recomputed at every pick. Active
 * requests come from the host's connection pools (HostLoad).
 */
import type { Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { registerLoadBalancer, smoothWeightedPick, typedLbConfig, type HostLoad } from './load_balancer.ts';
import { HostSourceLoadBalancer, sameWeights, type HostSource } from './host_source.ts';
import { rampEndsAt, slowStartConfig, slowStartFactor, type SlowStartConfig } from './slow_start.ts';
import { CLUSTER_EXT } from '../../xds/type_urls.ts';
import { zoneAwareConfig, type ZoneAwareConfig } from './zone_aware.ts';

export interface LeastRequestConfig {
  choiceCount: number;
  activeRequestBias: number;
  slowStart?: SlowStartConfig;
}

export function leastRequestConfig(cluster: EnvoyJson): LeastRequestConfig {
  const typed = typedLbConfig(cluster, CLUSTER_EXT.LEAST_REQUEST);
  const c = typed ?? cluster.least_request_lb_config ?? {};
  const cc = c.choice_count;
  const choiceCount = Number(cc === undefined ? 2 : typeof cc === 'object' ? cc.value : cc);
  const bias = c.active_request_bias;
  const activeRequestBias = Number(bias === undefined ? 1 : typeof bias === 'object' ? bias.default_value ?? 1 : bias);
  return {
    choiceCount: choiceCount >= 2 ? choiceCount : 2,
    activeRequestBias: Number.isFinite(activeRequestBias) && activeRequestBias >= 0 ? activeRequestBias : 1,
    slowStart: slowStartConfig(cluster, typed),
  };
}

export class LeastRequestLoadBalancer extends HostSourceLoadBalancer {
  private readonly current = new Map<string, Map<UpstreamHost, number>>();

  constructor(
    stats: Stats,
    private readonly load: HostLoad,
    private readonly cfg: LeastRequestConfig = { choiceCount: 2, activeRequestBias: 1 },
    random?: () => number,
    cluster: EnvoyJson = {},
    zoneAware?: ZoneAwareConfig,
  ) {
    super(stats, cluster, random, zoneAware);
  }

  /** Until when some host is in its slow-start window (rampEndsAt). */
  private rampEnds = 0;

  protected override onUpdate(): void {
    this.current.clear();
    this.rampEnds = rampEndsAt(this.states, this.cfg.slowStart);
  }

  protected pickFrom(source: HostSource): UpstreamHost | undefined {
    const hosts = source.hosts;
    if (hosts.length === 1) return hosts[0];
    const ss = this.cfg.slowStart;
    // Istio's default path (equal weights, no ramp): no clock read, no closure.
    const now = ss ? Date.now() : 0;
    const ramping = ss !== undefined && now < this.rampEnds;
    if (!ramping && sameWeights(hosts)) return this.powerOfChoices(hosts);
    const base = ramping ? (h: UpstreamHost) => h.weight * slowStartFactor(h, ss, now) : (h: UpstreamHost) => h.weight;
    if (ramping && hosts.every((h) => base(h) === base(hosts[0]))) return this.powerOfChoices(hosts);
    let cur = this.current.get(source.key);
    if (!cur) this.current.set(source.key, (cur = new Map()));
    const bias = this.cfg.activeRequestBias;
    const weightOf = (h: UpstreamHost) => {
      const w = base(h);
      if (bias === 0) return w;
      const active = this.load(h);
      return bias === 1 ? w / (active + 1) : w / Math.pow(active + 1, bias);
    };
    return smoothWeightedPick(hosts, weightOf, cur);
  }

  private powerOfChoices(hosts: UpstreamHost[]): UpstreamHost {
    let best: UpstreamHost | undefined;
    let bestLoad = 0;
    for (let i = 0; i < this.cfg.choiceCount; i++) {
      const h = hosts[Math.floor(this.random() * hosts.length)];
      const l = this.load(h);
      if (!best || l < bestLoad) {
        best = h;
        bestLoad = l;
      }
    }
    return best!;
  }
}

registerLoadBalancer('LEAST_REQUEST', (cluster, stats, load, local) => new LeastRequestLoadBalancer(stats, load, leastRequestConfig(cluster), undefined, cluster, zoneAwareConfig(cluster, local)));
