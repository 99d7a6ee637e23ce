/**
 * MAGLEV (Google's Maglev consistent hashing, as Envoy offers it): a lookup table of table_size
 * slots (default 65537, must be prime, at most 5000011) filled once per host-set change; a request
 * goes to table[hash % size] — O(1), and a more even spread than a ring of similar memory, at the
 * price of slightly more keys moving when hosts change ("minimal disruption" rather than minimal).
 *
 * Filling: every host walks its own permutation of the slots (offset + j * skip, mod size; skip is
 * coprime to a prime size, so the walk visits every slot) and hosts take turns claiming their next
 * free slot. Weights change how often a host gets a turn: each round a host earns its weight and
 * takes a turn per max-weight earned, so slot counts follow weights. Hosts are ordered by address,
 * so every proxy builds the same table from the same endpoints whatever their EDS order.
 *
 * Hashes come from hash53 (consistent_hash.ts): not byte-compatible with Envoy.
 */
import type { Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { registerLoadBalancer } from './load_balancer.ts';
import { HashingLoadBalancer, hash53, rehash, typedLbConfig, uint64Field, unsupportedHashingOption, type Accept } from './consistent_hash.ts';
import { CLUSTER_EXT } from '../../xds/type_urls.ts';

export const MAGLEV_TYPE = CLUSTER_EXT.MAGLEV;
export const DEFAULT_TABLE_SIZE = 65537;
export const MAX_TABLE_SIZE = 5000011;
/** Perturbed lookups tried before scanning the host list when the slot's host is unusable. */
const REHASH_ATTEMPTS = 16;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** table_size of a cluster, or an error message (validation.ts turns it into a NACK). */
export function maglevTableSize(cluster: EnvoyJson): number | string {
  const typed = typedLbConfig(cluster, MAGLEV_TYPE);
  const unsupported = unsupportedHashingOption(cluster, typed);
  if (unsupported) return unsupported;
  const c = cluster.maglev_lb_config ?? typed ?? {};
  const size = uint64Field(c.table_size) ?? DEFAULT_TABLE_SIZE;
  if (!isPrime(size)) return `table_size ${size} must be a prime number`;
  if (size > MAX_TABLE_SIZE) return `table_size ${size} must not exceed ${MAX_TABLE_SIZE}`;
  return size;
}

export interface MaglevTable {
  /** Hosts ordered by address; `slots` holds indexes into it. */
  hosts: UpstreamHost[];
  slots: Int32Array;
}

export function buildTable(input: UpstreamHost[], size: number): MaglevTable {
  const hosts = [...input].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const n = hosts.length;
  const slots = new Int32Array(size).fill(-1);
  if (n === 0) return { hosts, slots };
  // Two independently seeded hashes of the address give each host its own permutation.
  // pos[i] is the host's next candidate slot (offset + j * skip, mod size), advanced by adding.
  const pos = Int32Array.from(hosts, (h) => hash53(h.address, 0x6d61676c) % size);
  const skip = Int32Array.from(hosts, (h) => (hash53(h.address, 0x65763031) % (size - 1)) + 1);
  const credit = new Float64Array(n);
  let maxW = 0;
  for (const h of hosts) maxW = Math.max(maxW, h.weight);
  let filled = 0;
  // The heaviest host claims a slot every round, so this ends after at most `size` rounds.
  while (filled < size) {
    for (let i = 0; i < n && filled < size; i++) {
      credit[i] += hosts[i].weight;
      if (credit[i] < maxW) continue;
      credit[i] -= maxW;
      let slot = pos[i];
      while (slots[slot] >= 0) {
        slot += skip[i];
        if (slot >= size) slot -= size;
      }
      slots[slot] = i;
      slot += skip[i];
      pos[i] = slot >= size ? slot - size : slot;
      filled++;
    }
  }
  return { hosts, slots };
}

export class MaglevLoadBalancer extends HashingLoadBalancer<MaglevTable> {
  constructor(stats: Stats, private readonly tableSize: number, random?: () => number) {
    super(stats, random);
  }

  protected build(hosts: UpstreamHost[]): MaglevTable {
    const table = buildTable(hosts, this.tableSize);
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

  /**
   * table[hash % size]; if that host is unusable, a few perturbed hashes of the same key (so one
   * key's fallback is stable and different keys spread over the remaining hosts), then the first
   * usable host after the slot's in address order.
   */
  protected pick(t: MaglevTable, hash: number, accept: Accept): UpstreamHost | undefined {
    const size = t.slots.length;
    const n = t.hosts.length;
    if (n === 0) return undefined;
    const home = t.slots[hash % size];
    if (accept(t.hosts[home])) return t.hosts[home];
    for (let i = 0; i < REHASH_ATTEMPTS; i++) {
      const h = t.hosts[t.slots[rehash(hash, i) % size]];
      if (accept(h)) return h;
    }
    for (let i = 1; i < n; i++) {
      const h = t.hosts[(home + i) % n];
      if (accept(h)) return h;
    }
    return undefined;
  }
}

registerLoadBalancer('MAGLEV', (cluster, stats) => {
  const size = maglevTableSize(cluster);
  // validation.ts NACKs a bad table_size before a cluster is built; the default is a safety net only.
  return new MaglevLoadBalancer(stats, typeof size === 'string' ? DEFAULT_TABLE_SIZE : size);
});
