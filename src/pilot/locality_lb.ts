/**
 * DestinationRule localityLbSetting applied to a ClusterLoadAssignment, as Istio's
 * loadbalancer.ApplyLocalityLoadBalancer: `distribute` sets locality weights (and drops the
 * localities it does not name); otherwise, when outlier detection is on (without it nothing would
 * ever fail over), `failoverPriority` ranks endpoints by how many of the listed labels they share
 * with the calling proxy, in order, and `failover` (or the default) ranks localities by closeness:
 * same region/zone/subzone 0, same zone 1, same region 2, the failover region 3, others 4.
 * Priorities combine as Istio's (failoverPriority × 5 + locality rank) and are then compacted.
 */
import type { Endpoint, Locality } from '../registry/model.ts';
import type { EnvoyJson } from '../xds/types.ts';
import type { MeshConfig } from '../api/types.ts';
import type { TrafficPolicy } from '../api/networking.ts';
import type { Proxy } from './types.ts';
import { cmp } from './util.ts';

export interface LocalityGroup {
  locality: Locality;
  endpoints: Endpoint[];
  json: EnvoyJson;
}

export function localityKey(l: Locality): string {
  return `${l.region ?? ''}/${l.zone ?? ''}/${l.subzone ?? ''}`;
}

/** `region/zone/subzone` with `*` segments (or a shorter prefix) as wildcards. */
export function localityPatternMatches(pattern: string, key: string): boolean {
  const p = pattern.split('/');
  const k = key.split('/');
  return p.every((seg, i) => seg === '*' || seg === (k[i] ?? ''));
}

export interface LocalityLbSetting {
  enabled?: boolean;
  distribute?: Array<{ from?: string; to?: Record<string, number> }>;
  failover?: Array<{ from?: string; to?: string }>;
  failoverPriority?: string[];
}

/**
 * Applies the setting; `regroup` splits a group's endpoints into a new group (for failoverPriority,
 * which may put endpoints of one locality at different priorities).
 */
export function applyLocalityLbSetting(
  groups: LocalityGroup[],
  setting: LocalityLbSetting | undefined,
  proxy: Proxy,
  outlierDetection: boolean,
  regroup: (eps: Endpoint[]) => LocalityGroup,
): LocalityGroup[] {
  if (!setting || setting.enabled === false) return groups;
  if (setting.distribute?.length) return applyDistribute(groups, setting.distribute, proxy.locality);
  if (!outlierDetection) return groups;
  let out = groups;
  if (setting.failoverPriority?.length) {
    out = applyFailoverPriority(groups, setting.failoverPriority, proxy, regroup);
    if (setting.failover?.length) applyFailover(out, setting.failover, proxy.locality);
  } else applyFailover(out, setting.failover ?? [], proxy.locality);
  compactPriorities(out);
  return out;
}

/** Istio's augmented labels: the locality (and network) as topology labels, on proxy and endpoint. */
function topologyLabels(labels: Record<string, string>, l: Locality, network?: string): Record<string, string> {
  const out = { ...labels };
  if (l.region) out['topology.kubernetes.io/region'] ??= l.region;
  if (l.zone) out['topology.kubernetes.io/zone'] ??= l.zone;
  if (l.subzone) out['topology.istio.io/subzone'] ??= l.subzone;
  if (network) out['topology.istio.io/network'] ??= network;
  return out;
}

function applyFailoverPriority(groups: LocalityGroup[], labels: string[], proxy: Proxy, regroup: (eps: Endpoint[]) => LocalityGroup): LocalityGroup[] {
  const mine = topologyLabels(proxy.labels, proxy.locality, typeof proxy.metadata?.NETWORK === 'string' ? proxy.metadata.NETWORK : undefined);
  const priorityOf = (e: Endpoint): number => {
    const theirs = topologyLabels(e.labels, e.locality, e.network);
    let matched = 0;
    for (const l of labels) {
      // "key=value" (Istio 1.20+): the endpoint must carry that value, whatever the proxy's.
      const eq = l.indexOf('=');
      const key = eq >= 0 ? l.slice(0, eq) : l;
      const want = eq >= 0 ? l.slice(eq + 1) : mine[key];
      if (want === undefined || theirs[key] !== want) break;
      matched++;
    }
    return labels.length - matched;
  };
  const out: LocalityGroup[] = [];
  for (const g of groups) {
    const byPriority = new Map<number, Endpoint[]>();
    for (const e of g.endpoints) {
      const p = priorityOf(e);
      byPriority.set(p, [...(byPriority.get(p) ?? []), e]);
    }
    for (const [p, eps] of [...byPriority.entries()].sort(([a], [b]) => a - b)) {
      const ng = eps.length === g.endpoints.length ? g : regroup(eps);
      if (p > 0) ng.json.priority = p;
      out.push(ng);
    }
  }
  return out;
}

/** Locality closeness on top of any failoverPriority already set (× 5, as Istio). */
function applyFailover(groups: LocalityGroup[], failover: Array<{ from?: string; to?: string }>, proxyLoc: Proxy['locality']): void {
  if (!proxyLoc.region) return;
  const rank = (l: Locality): number => {
    if (l.region === proxyLoc.region) {
      if (l.zone === proxyLoc.zone) return l.subzone === proxyLoc.subzone ? 0 : 1;
      return 2;
    }
    const rule = failover.find((f) => f.from === proxyLoc.region);
    return rule && rule.to !== l.region ? 4 : 3;
  };
  for (const g of groups) {
    const p = Number(g.json.priority ?? 0) * 5 + rank(g.locality);
    if (p > 0) g.json.priority = p;
    else delete g.json.priority;
  }
}

/** Envoy needs consecutive priorities from 0: renumber the ones in use. */
function compactPriorities(groups: LocalityGroup[]): void {
  const used = [...new Set(groups.map((g) => Number(g.json.priority ?? 0)))].sort((a, b) => a - b);
  for (const g of groups) {
    const p = used.indexOf(Number(g.json.priority ?? 0));
    if (p > 0) g.json.priority = p;
    else delete g.json.priority;
  }
}

/**
 * `distribute`: the first rule whose `from` matches the proxy gives each matching locality a share
 * of its percentage in proportion to the locality's own weight (rounded up, as Istio); localities
 * no `to` names get no traffic and are left out.
 */
function applyDistribute(groups: LocalityGroup[], distribute: Array<{ from?: string; to?: Record<string, number> }>, proxyLoc: Proxy['locality']): LocalityGroup[] {
  const me = localityKey(proxyLoc);
  const rule = distribute.find((d) => d.from !== undefined && localityPatternMatches(d.from, me));
  if (!rule?.to) return groups;
  const weights = new Map<LocalityGroup, number>();
  for (const [pattern, pct] of Object.entries(rule.to).sort(([a], [b]) => cmp(a, b))) {
    const matched = groups.filter((g) => !weights.has(g) && localityPatternMatches(pattern, localityKey(g.locality)));
    const own = (g: LocalityGroup) => Number(g.json.load_balancing_weight ?? 1);
    const total = matched.reduce((s, g) => s + own(g), 0);
    for (const g of matched) {
      const w = Math.ceil((own(g) * pct) / total);
      if (w > 0) weights.set(g, w);
    }
  }
  return groups.filter((g) => weights.has(g)).map((g) => ({ ...g, json: { ...g.json, load_balancing_weight: weights.get(g) } }));
}

/**
 * The policy with meshConfig.localityLbSetting filled in where the DestinationRule sets none
 * (Istio's order: the rule's setting, else the mesh's). The policy is not modified.
 */
export function withMeshLocalityLb(policy: TrafficPolicy, mesh: MeshConfig): TrafficPolicy {
  if (!mesh.localityLbSetting || policy.loadBalancer?.localityLbSetting) return policy;
  return { ...policy, loadBalancer: { ...(policy.loadBalancer ?? {}), localityLbSetting: mesh.localityLbSetting } };
}
