/**
 * RING_HASH as Envoy builds it (ketama-style; Istio's consistentHash default), so a key lands on
 * the host an Envoy would pick.
 *
 * Ring: weights normalised to sum 1 (consistent_hash.ts); scale = min(ceil(min_weight ×
 * minimum_ring_size) / min_weight, maximum_ring_size); walking the hosts in order, a running target
 * grows by scale × weight and the host adds entries xxHash64("<key>_<i>") (i = 0, 1, ...) while the
 * running count is below it; the entries are sorted by hash. A request hash goes to the first entry
 * at or above it, wrapping to the first; a retry's n-th attempt takes the entry n further on.
 *
 * Config (Cluster.ring_hash_lb_config, or the typed envoy.load_balancing_policies.ring_hash):
 * minimum_ring_size (default 1024), maximum_ring_size (default 8M, the hard limit), hash_function
 * XX_HASH (MURMUR_HASH_2 is rejected: a different ring than asked for).
 */
import type { Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { registerLoadBalancer, type HostLoad } from './load_balancer.ts';
import { HashingLoadBalancer, hashingOptions, typedLbConfig, uint64Field, type HashingOptions, type WeightedHost } from './consistent_hash.ts';
import { xxHash64 } from './xxhash.ts';
import { CLUSTER_EXT } from '../../xds/type_urls.ts';

export const RING_HASH_TYPE = CLUSTER_EXT.RING_HASH;
export const DEFAULT_MIN_RING_SIZE = 1024;
/** Envoy's default maximum and its hard limit (8M entries). */
export const MAX_RING_SIZE = 8 * 1024 * 1024;

export interface RingHashConfig {
  minimumRingSize: number;
  maximumRingSize: number;
  hashing?: HashingOptions;
}

/** The ring settings of a cluster, or an error message (validation.ts turns it into a NACK). */
export function ringHashConfig(cluster: EnvoyJson): RingHashConfig | string {
  const typed = typedLbConfig(cluster, RING_HASH_TYPE);
  const hashing = hashingOptions(cluster, typed);
  if (typeof hashing === 'string') return hashing;
  const c = cluster.ring_hash_lb_config ?? typed ?? {};
  const min = uint64Field(c.minimum_ring_size) ?? DEFAULT_MIN_RING_SIZE;
  const max = uint64Field(c.maximum_ring_size) ?? MAX_RING_SIZE;
  if (!Number.isInteger(min) || min < 1 || min > MAX_RING_SIZE) return `minimum_ring_size ${min} must be between 1 and ${MAX_RING_SIZE}`;
  if (!Number.isInteger(max) || max < 1 || max > MAX_RING_SIZE) return `maximum_ring_size ${max} must be between 1 and ${MAX_RING_SIZE}`;
  if (min > max) return `minimum_ring_size (${min}) must not exceed maximum_ring_size (${max})`;
  const fn = c.hash_function;
  if (fn !== undefined && fn !== 'XX_HASH' && fn !== 'DEFAULT_HASH' && fn !== 0) return `hash_function ${fn} is not supported (only XX_HASH)`;
  return { minimumRingSize: min, maximumRingSize: max, hashing };
}

export interface Ring {
  /** Entry hashes, ascending. */
  hashes: BigUint64Array;
  /** owners[i] owns hashes[i]. */
  owners: UpstreamHost[];
}

export function buildRing(hosts: WeightedHost[], cfg: { minimumRingSize: number; maximumRingSize: number }): Ring {
  let minW = 1;
  for (const w of hosts) minW = Math.min(minW, w.weight);
  const scale = Math.min(Math.ceil(minW * cfg.minimumRingSize) / minW, cfg.maximumRingSize);
  const entries: { hash: bigint; host: UpstreamHost }[] = [];
  let current = 0;
  let target = 0;
  for (const w of hosts) {
    target += scale * w.weight;
    for (let i = 0; current < target; i++, current++) entries.push({ hash: xxHash64(`${w.key}_${i}`), host: w.host });
  }
  entries.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  return { hashes: BigUint64Array.from(entries, (e) => e.hash), owners: entries.map((e) => e.host) };
}

/** Index of the first entry whose hash is >= `hash`, wrapping to 0 past the end. */
export function ringIndex(hashes: BigUint64Array, hash: bigint): number {
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
  constructor(stats: Stats, private readonly cfg: RingHashConfig, cluster: EnvoyJson = {}, load?: HostLoad, random?: () => number) {
    super(stats, cluster, cfg.hashing, load, random);
  }

  protected build(hosts: WeightedHost[]): Ring {
    const ring = buildRing(hosts, this.cfg);
    // Envoy's ring_hash_lb.* gauges, to see how evenly the entries fell.
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

  protected pick(ring: Ring, hash: bigint, attempt: number): UpstreamHost | undefined {
    const n = ring.hashes.length;
    if (n === 0) return undefined;
    return ring.owners[(ringIndex(ring.hashes, hash) + attempt) % n];
  }
}

registerLoadBalancer('RING_HASH', (cluster, stats, load) => {
  const cfg = ringHashConfig(cluster);
  // validation.ts NACKs bad settings before a cluster is built; defaults are a safety net only.
  return new RingHashLoadBalancer(stats, typeof cfg === 'string' ? { minimumRingSize: DEFAULT_MIN_RING_SIZE, maximumRingSize: MAX_RING_SIZE } : cfg, cluster, load);
});
