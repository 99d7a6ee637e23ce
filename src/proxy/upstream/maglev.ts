/**
 * MAGLEV as Envoy builds it (Google's Maglev consistent hashing), so a key lands on the host an
 * Envoy would pick: a table of table_size slots (default 65537, prime, at most 5000011); a request
 * goes to table[hash % size], a retry's n-th attempt to table[(hash xor (2^64 - n)) % size].
 *
 * Filling (Envoy's MaglevTable): each host has offset = xxHash64(key) % size and skip =
 * xxHash64(key, seed 1) % (size - 1) + 1, and walks slots offset + next × skip (mod size). In
 * rounds 1, 2, ... each host in order, when round × weight ≥ its target, claims its next free
 * slot and raises its target by the largest weight, so slot counts follow the normalised weights.
 */
import type { Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { registerLoadBalancer, type HostLoad } from './load_balancer.ts';
import { HashingLoadBalancer, hashingOptions, typedLbConfig, uint64Field, type HashingOptions, type WeightedHost } from './consistent_hash.ts';
import { xxHash64 } from './xxhash.ts';
import { CLUSTER_EXT } from '../../xds/type_urls.ts';

export const MAGLEV_TYPE = CLUSTER_EXT.MAGLEV;
export const DEFAULT_TABLE_SIZE = 65537;
export const MAX_TABLE_SIZE = 5000011;
const U64 = (1n << 64n) - 1n;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

export interface MaglevConfig {
  tableSize: number;
  hashing?: HashingOptions;
}

/** The Maglev settings of a cluster, or an error message (validation.ts turns it into a NACK). */
export function maglevConfig(cluster: EnvoyJson): MaglevConfig | string {
  const typed = typedLbConfig(cluster, MAGLEV_TYPE);
  const hashing = hashingOptions(cluster, typed);
  if (typeof hashing === 'string') return hashing;
  const c = cluster.maglev_lb_config ?? typed ?? {};
  const size = uint64Field(c.table_size) ?? DEFAULT_TABLE_SIZE;
  if (!isPrime(size)) return `table_size ${size} must be a prime number`;
  if (size > MAX_TABLE_SIZE) return `table_size ${size} must not exceed ${MAX_TABLE_SIZE}`;
  return { tableSize: size, hashing };
}

/** table_size of a cluster, or an error message. */
export function maglevTableSize(cluster: EnvoyJson): number | string {
  const c = maglevConfig(cluster);
  return typeof c === 'string' ? c : c.tableSize;
}

export interface MaglevTable {
  hosts: UpstreamHost[];
  /** Indexes into `hosts`. */
  slots: Int32Array;
}

export function buildTable(input: WeightedHost[], size: number): MaglevTable {
  const n = input.length;
  const hosts = input.map((w) => w.host);
  const slots = new Int32Array(size).fill(-1);
  if (n === 0) return { hosts, slots };
  const big = BigInt(size);
  const offset = input.map((w) => Number(xxHash64(w.key) % big));
  const skip = input.map((w) => Number(xxHash64(w.key, 1n) % (big - 1n)) + 1);
  const next = new Float64Array(n);
  const target = new Float64Array(n);
  let maxW = 0;
  for (const w of input) maxW = Math.max(maxW, w.weight);
  let filled = 0;
  for (let iteration = 1; filled < size; iteration++) {
    for (let i = 0; i < n && filled < size; i++) {
      if (iteration * input[i].weight < target[i]) continue;
      target[i] += maxW;
      let c = (offset[i] + skip[i] * next[i]) % size;
      while (slots[c] >= 0) {
        next[i]++;
        c = (offset[i] + skip[i] * next[i]) % size;
      }
      slots[c] = i;
      next[i]++;
      filled++;
    }
  }
  return { hosts, slots };
}

export class MaglevLoadBalancer extends HashingLoadBalancer<MaglevTable> {
  constructor(stats: Stats, private readonly cfg: MaglevConfig, cluster: EnvoyJson = {}, load?: HostLoad, random?: () => number) {
    super(stats, cluster, cfg.hashing, load, random);
  }

  protected build(hosts: WeightedHost[]): MaglevTable {
    const table = buildTable(hosts, this.cfg.tableSize);
    // Envoy's maglev_lb.* gauges, to see how evenly the slots fell.
    const per = new Array<number>(table.hosts.length).fill(0);
    for (const s of table.slots) per[s]++;
    let min = per.length ? Infinity : 0;
    let max = 0;
    for (const v of per) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    this.stats.gauge('maglev_lb.min_entries_per_host').set(min);
    this.stats.gauge('maglev_lb.max_entries_per_host').set(max);
    return table;
  }

  protected pick(t: MaglevTable, hash: bigint, attempt: number): UpstreamHost | undefined {
    if (t.hosts.length === 0) return undefined;
    // Envoy flips many bits of the hash per retry attempt so retries spread over other hosts.
    const h = attempt > 0 ? hash ^ ((U64 - BigInt(attempt) + 1n) & U64) : hash;
    return t.hosts[t.slots[Number(h % BigInt(t.slots.length))]];
  }
}

registerLoadBalancer('MAGLEV', (cluster, stats, load) => {
  const cfg = maglevConfig(cluster);
  // validation.ts NACKs a bad config before a cluster is built; the default is a safety net only.
  return new MaglevLoadBalancer(stats, typeof cfg === 'string' ? { tableSize: DEFAULT_TABLE_SIZE } : cfg, cluster, load);
});
