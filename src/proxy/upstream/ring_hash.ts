/**
 * RING_HASH (Envoy's ketama-style consistent hashing; Istio's consistentHash default): each host
 * owns points on a 53-bit ring in proportion to its weight; a request's hash key maps to the first
 * point at or after its hash. Adding or removing a host moves only the keys of the arcs it owned.
 *
 * Config (Cluster.ring_hash_lb_config, or the typed envoy.load_balancing_policies.ring_hash):
 * minimum_ring_size (default 1024) and maximum_ring_size (default 8M, also the hard limit) bound the
 * number of points; hash_function XX_HASH / MURMUR_HASH_2 are both accepted and both served by
 * hash53 (consistent_hash.ts: not byte-compatible with Envoy, consistent across tsmesh proxies).
 * Clusters asking for use_hostname_for_hashing or hash_balance_factor are rejected (consistent_hash.ts).
 */
import type { Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { registerLoadBalancer } from './load_balancer.ts';
import { HashingLoadBalancer, hash53, typedLbConfig, uint64Field, unsupportedHashingOption, type Accept } from './consistent_hash.ts';
import { CLUSTER_EXT } from '../../xds/type_urls.ts';

export const RING_HASH_TYPE = CLUSTER_EXT.RING_HASH;
export const DEFAULT_MIN_RING_SIZE = 1024;
/** Envoy's default maximum and its hard limit (8M entries). */
export const MAX_RING_SIZE = 8 * 1024 * 1024;

export interface RingHashConfig {
  minimumRingSize: number;
  maximumRingSize: number;
}

/** The ring settings of a cluster, or an error message (validation.ts turns it into a NACK). */
export function ringHashConfig(cluster: EnvoyJson): RingHashConfig | string {
  const typed = typedLbConfig(cluster, RING_HASH_TYPE);
  const unsupported = unsupportedHashingOption(cluster, typed);
  if (unsupported) return unsupported;
  const c = cluster.ring_hash_lb_config ?? typed ?? {};
  const min = uint64Field(c.minimum_ring_size) ?? DEFAULT_MIN_RING_SIZE;
  const max = uint64Field(c.maximum_ring_size) ?? MAX_RING_SIZE;
  if (!Number.isInteger(min) || min < 1 || min > MAX_RING_SIZE) return `minimum_ring_size ${min} must be between 1 and ${MAX_RING_SIZE}`;
  if (!Number.isInteger(max) || max < 1 || max > MAX_RING_SIZE) return `maximum_ring_size ${max} must be between 1 and ${MAX_RING_SIZE}`;
  if (min > max) return `minimum_ring_size (${min}) must not exceed maximum_ring_size (${max})`;
  const fn = c.hash_function;
  if (fn !== undefined && fn !== 'XX_HASH' && fn !== 'MURMUR_HASH_2' && fn !== 'DEFAULT_HASH' && fn !== 0 && fn !== 1 && fn !== 2) return `hash_function ${fn} is not supported`;
  return { minimumRingSize: min, maximumRingSize: max };
}

export interface Ring {
  /** Point positions, ascending. */
  hashes: Float64Array;
  /** owners[i] owns hashes[i]. */
  owners: UpstreamHost[];
  /** Distinct hosts on the ring: bounds the walk. */
  hostCount: number;
}

/**
 * Points per host = weight x a per-weight count. Envoy picks that count as the smallest that gives
 * the lightest host a point and the ring minimum_ring_size points, so it changes with every
 * membership change, and each change moves some keys between hosts that stayed (about 16% of them
 * when 1 of 4 hosts leaves at the default 1024). Here the count is rounded up to a power of two
 * instead: a host's points (hashes of "<address>_<n>", n < count) stay exactly the same while the
 * total weight moves within a power-of-two band, so a host leaving or joining moves only its own
 * keys; only when the total crosses a band edge (e.g. 5 -> 4 equal hosts at the default) do the
 * remaining hosts double or halve their points and a larger share moves once. The count is a pure
 * function of the host set, so every proxy builds the same ring. The ring then holds between
 * minimum_ring_size and twice that (or the total weight, if larger), capped at maximum_ring_size;
 * under the cap every host keeps its proportion and fractions carry over host to host.
 */
export function buildRing(hosts: UpstreamHost[], cfg: RingHashConfig): Ring {
  let total = 0;
  for (const h of hosts) total += h.weight;
  // Weights are integers >= 1 (eds.ts), so at least one point per unit gives every host a point.
  let perWeight = Math.max(1, 2 ** (Math.floor(Math.log2(cfg.minimumRingSize / total)) + 1));
  if (perWeight * total > cfg.maximumRingSize) perWeight = cfg.maximumRingSize / total;
  const points: { hash: number; host: UpstreamHost }[] = [];
  let target = 0;
  // Sorted by address so the ring does not depend on EDS order (ties and fractions land alike everywhere).
  const sorted = [...hosts].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  for (const h of sorted) {
    target += perWeight * h.weight;
    // Each point is the hash of "<address>_<n>": stable per host, independent of the other hosts.
    for (let n = 0; points.length < Math.round(target); n++) points.push({ hash: hash53(`${h.address}_${n}`), host: h });
  }
  points.sort((a, b) => a.hash - b.hash || (a.host.address < b.host.address ? -1 : 1));
  const hashes = new Float64Array(points.length);
  const owners = new Array<UpstreamHost>(points.length);
  const distinct = new Set<UpstreamHost>();
  points.forEach((p, i) => {
    hashes[i] = p.hash;
    owners[i] = p.host;
    distinct.add(p.host);
  });
  return { hashes, owners, hostCount: distinct.size };
}

/** Index of the first point at or after `hash`, wrapping to 0 past the end: O(log n). */
export function ringIndex(hashes: Float64Array, hash: number): number {
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (hashes[mid] < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === hashes.length ? 0 : lo;
}

export class RingHashLoadBalancer extends HashingLoadBalancer<Ring> {
  constructor(stats: Stats, private readonly cfg: RingHashConfig, random?: () => number) {
    super(stats, random);
  }

  protected build(hosts: UpstreamHost[]): Ring {
    const ring = buildRing(hosts, this.cfg);
    // Envoy's ring_hash_lb.* gauges, to see how evenly the points fell.
    const per = new Map<UpstreamHost, number>();
    for (const o of ring.owners) per.set(o, (per.get(o) ?? 0) + 1);
    this.stats.gauge('ring_hash_lb.size').set(ring.hashes.length);
    let min = per.size ? Infinity : 0;
    let max = 0;
    for (const v of per.values()) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    this.stats.gauge('ring_hash_lb.min_hashes_per_host').set(min);
    this.stats.gauge('ring_hash_lb.max_hashes_per_host').set(max);
    return ring;
  }

  /** The owner of the point for `hash`; if unacceptable, walk clockwise to the next acceptable owner. */
  protected pick(ring: Ring, hash: number, accept: Accept): UpstreamHost | undefined {
    const n = ring.hashes.length;
    if (n === 0) return undefined;
    const start = ringIndex(ring.hashes, hash);
    const first = ring.owners[start];
    if (accept(first)) return first;
    const rejected = new Set<UpstreamHost>([first]);
    for (let i = 1; i < n && rejected.size < ring.hostCount; i++) {
      const h = ring.owners[(start + i) % n];
      if (rejected.has(h)) continue;
      if (accept(h)) return h;
      rejected.add(h);
    }
    return undefined;
  }
}

registerLoadBalancer('RING_HASH', (cluster, stats) => {
  const cfg = ringHashConfig(cluster);
  // validation.ts NACKs bad settings before a cluster is built; defaults are a safety net only.
  return new RingHashLoadBalancer(stats, typeof cfg === 'string' ? { minimumRingSize: DEFAULT_MIN_RING_SIZE, maximumRingSize: MAX_RING_SIZE } : cfg);
});
