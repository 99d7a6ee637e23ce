/**
 * LEAST_REQUEST (Istio's default lb_policy): Envoy's power-of-N-choices — sample choice_count
 * (default 2) candidates at random and take the one with the fewest active requests, read from
 * the host's connection pool. Weights only break ties here (Envoy scales by weight; kept simple).
 */
import type { LoadBalancerContext, Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { candidateHosts, registerLoadBalancer, type HostLoad, type LoadBalancer } from './load_balancer.ts';

export class LeastRequestLoadBalancer implements LoadBalancer {
  private hosts: UpstreamHost[] = [];
  private priorities: UpstreamHost[][] = [];

  constructor(
    private readonly stats: Stats,
    private readonly load: HostLoad,
    private readonly choices = 2,
    private readonly random: () => number = Math.random,
  ) {}

  update(priorities: UpstreamHost[][]): void {
    this.priorities = priorities;
    this.hosts = candidateHosts(priorities, this.stats);
  }

  chooseHost(ctx?: LoadBalancerContext): UpstreamHost | undefined {
    if (this.hosts.some((h) => !h.healthy)) this.hosts = candidateHosts(this.priorities, this.stats);
    const hosts = this.hosts;
    const n = hosts.length;
    if (n === 0) return undefined;
    if (n === 1) return hosts[0];
    let best: UpstreamHost | undefined;
    let bestLoad = Infinity;
    for (let i = 0; i < this.choices; i++) {
      const h = hosts[Math.floor(this.random() * n)];
      if (ctx?.excludeHosts?.has(h)) continue;
      const l = this.load(h);
      if (l < bestLoad || (l === bestLoad && best && h.weight > best.weight)) {
        best = h;
        bestLoad = l;
      }
    }
    return best ?? hosts[Math.floor(this.random() * n)];
  }
}

registerLoadBalancer('LEAST_REQUEST', (cluster: EnvoyJson, stats, load) => {
  const choices = Number(cluster.least_request_lb_config?.choice_count ?? 2);
  return new LeastRequestLoadBalancer(stats, load, choices >= 2 ? choices : 2);
});
