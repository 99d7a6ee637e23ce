/**
 * STRICT_DNS and LOGICAL_DNS clusters: endpoints name hosts, resolved every dns_refresh_rate
 * (default 5 s), or, with respect_dns_ttl, at the TTL of the records returned (the smallest, when
 * there are several; a TTL of 0 falls back to dns_refresh_rate, as Envoy). STRICT_DNS makes a
 * host of every address returned; LOGICAL_DNS keeps only the first (one logical host, as Envoy).
 * The cluster is warm after the first attempt, even a failed one, so one bad name cannot stall
 * initialization; failures count in update_failure.
 *
 * Names are resolved by DNS queries (c-ares, which reports TTLs) when respect_dns_ttl is set or
 * dns_resolution_config names resolvers; otherwise, and when a TTL-aware query finds nothing
 * without configured resolvers (names only /etc/hosts knows), by the system resolver.
 */
import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
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

/** When to resolve again (Envoy's strict_dns_cluster: the TTL only when respected and non-zero). */
export function nextRefreshMs(respectDnsTtl: boolean, ttlSeconds: number | undefined, refreshMs: number): number {
  return respectDnsTtl && ttlSeconds !== undefined && ttlSeconds > 0 ? ttlSeconds * 1000 : refreshMs;
}

/** dns_resolution_config.resolvers as node:dns server strings ("127.0.0.1:5353", "[::1]:53"). */
export function resolverServers(config: EnvoyJson): string[] {
  const out: string[] = [];
  for (const a of config.dns_resolution_config?.resolvers ?? []) {
    const sa = socketAddress(a);
    if (sa) out.push(sa.ip.includes(':') ? `[${sa.ip}]:${sa.port || 53}` : `${sa.ip}:${sa.port || 53}`);
  }
  return out;
}

type Answer = { ips: string[]; ttl?: number };

/** One name by DNS query, with TTLs: A and/or AAAA by dns_lookup_family (AUTO: v6 first, then v4, as Envoy). */
async function query(resolver: Resolver, name: string, fam: 0 | 4 | 6, v4First: boolean): Promise<Answer> {
  const order: (4 | 6)[] = fam === 4 ? [4] : fam === 6 ? [6] : v4First ? [4, 6] : [6, 4];
  let last: unknown;
  for (const f of order) {
    try {
      const recs = f === 4 ? await resolver.resolve4(name, { ttl: true }) : await resolver.resolve6(name, { ttl: true });
      if (recs.length) return { ips: recs.map((r) => r.address), ttl: Math.min(...recs.map((r) => r.ttl)) };
    } catch (e) {
      last = e;
    }
  }
  throw last ?? new Error(`no address for ${name}`);
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
  const respectTtl = cluster.config.respect_dns_ttl === true;
  const servers = resolverServers(cluster.config);
  let resolver: Resolver | undefined;
  if (respectTtl || servers.length) {
    resolver = new Resolver({ timeout: 2000, tries: 2 });
    if (servers.length) resolver.setServers(servers);
  }
  const v4First = cluster.config.dns_lookup_family === 'V4_PREFERRED';
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const resolveOnce = async () => {
    const priorities: UpstreamHost[][] = [];
    let failed = false;
    let ttl: number | undefined;
    for (const t of targets) {
      let ips: string[] = [];
      if (isIP(t.name)) ips = [t.name];
      else {
        let answered = false;
        if (resolver) {
          try {
            const a = await query(resolver, t.name, fam, v4First);
            ips = a.ips;
            if (a.ttl !== undefined) ttl = ttl === undefined ? a.ttl : Math.min(ttl, a.ttl);
            answered = true;
          } catch {
            failed = servers.length > 0;
            answered = servers.length > 0;
          }
        }
        if (!answered) {
          try {
            const res = await lookup(t.name, { all: true, family: fam, verbatim: fam === 0 ? false : true });
            ips = res.map((r) => r.address);
          } catch {
            failed = true;
            ips = [];
          }
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
    timer = setTimeout(() => void resolveOnce(), nextRefreshMs(respectTtl, ttl, refreshMs));
    timer.unref();
  };
  cluster.onClose = () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
  void resolveOnce();
}
