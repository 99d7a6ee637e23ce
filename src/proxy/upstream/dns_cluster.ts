/**
 * STRICT_DNS and LOGICAL_DNS clusters: endpoints name hosts, resolved every dns_refresh_rate
 * (default 5 s). STRICT_DNS makes a host of every address returned; LOGICAL_DNS keeps only the
 * first (one logical host, as Envoy). The cluster is warm after the first attempt, even a failed
 * one, so one bad name cannot stall initialization; failures count in update_failure.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { UpstreamHost } from '../interfaces.ts';
import type { ClusterImpl } from './cluster.ts';
import { durationMs } from '../duration.ts';
import { hostAddress, socketAddress } from './eds.ts';

interface Target {
  name: string;
  port: number;
  weight: number;
  priority: number;
}

function family(c: ClusterImpl): 0 | 4 | 6 {
  switch (c.config.dns_lookup_family) {
    case 'V4_ONLY':
      return 4;
    case 'V6_ONLY':
      return 6;
    default:
      return 0;
  }
}

export function startDnsResolution(cluster: ClusterImpl): void {
  const targets: Target[] = [];
  for (const lle of cluster.config.load_assignment?.endpoints ?? []) {
    for (const lbe of lle.lb_endpoints ?? []) {
      const sa = socketAddress(lbe.endpoint?.address);
      if (sa) targets.push({ name: sa.ip, port: sa.port, weight: Number(lbe.load_balancing_weight ?? 1) || 1, priority: Number(lle.priority ?? 0) });
    }
  }
  const logical = cluster.type === 'LOGICAL_DNS';
  const refreshMs = durationMs(cluster.config.dns_refresh_rate, 5000);
  const fam = family(cluster);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const resolveOnce = async () => {
    const priorities: UpstreamHost[][] = [];
    let failed = false;
    for (const t of targets) {
      let ips: string[];
      if (isIP(t.name)) ips = [t.name];
      else {
        try {
          const res = await lookup(t.name, { all: true, family: fam, verbatim: fam === 0 ? false : true });
          ips = res.map((r) => r.address);
        } catch {
          failed = true;
          ips = [];
        }
      }
      if (logical) ips = ips.slice(0, 1);
      const list = (priorities[t.priority] ??= []);
      for (const ip of ips) {
        const address = hostAddress(ip, t.port);
        const old = cluster.hostIndex.get(address);
        list.push(old ?? { address, ip, port: t.port, weight: t.weight, healthy: true });
      }
    }
    for (let i = 0; i < priorities.length; i++) priorities[i] ??= [];
    if (stopped) return;
    if (failed) cluster.stats.counter('update_failure').inc();
    cluster.stats.counter('update_attempt').inc();
    cluster.setHosts(priorities);
    timer = setTimeout(() => void resolveOnce(), refreshMs);
    timer.unref();
  };
  cluster.onClose = () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
  void resolveOnce();
}
