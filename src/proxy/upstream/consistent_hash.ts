/**
 * What RING_HASH (ring_hash.ts) and MAGLEV (maglev.ts) share, as Envoy's ThreadAwareLoadBalancer:
 *
 * - Hashes are xxHash64 with seed 0 (xxhash.ts) of the same bytes Envoy hashes, so a mixed fleet
 *   of Envoys and tsmesh proxies sends a key to the same host. A host's key is its address string
 *   ("10.0.0.1:8080", "[::1]:80"), its endpoint hostname with use_hostname_for_hashing, or the
 *   LbEndpoint's envoy.lb hash_key metadata when set. A request's key is the route's hash policy
 *   value; several policy values (joined by "\n" in LoadBalancerContext.hashKey) fold as Envoy's
 *   (rotate the hash so far left by one, xor the next).
 * - The priority comes from the request hash and the priority load (priority_load.ts); each
 *   priority's table is built from its healthy hosts (all of them in panic) with weights
 *   normalised to sum 1, in EDS order, and rebuilt when that list changes.
 * - A retry that must avoid hosts already tried (previous_hosts) asks the table again with the
 *   attempt number (each table's own rule), as Envoy's host_selection_retry, up to 6 picks.
 * - hash_balance_factor: bounded loads (consistent hashing with bounded loads): a host with more
 *   than ceil((active + 1) × factor / 100 × its weight) active requests is skipped for the next
 *   host of a shuffle seeded by the request hash, or the least overloaded one.
 */
import type { LoadBalancerContext, Stats, UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { typedLbConfig, type HostLoad, type LoadBalancer } from './load_balancer.ts';
import { choosePriority, computePriorityLoad, panicThreshold, policyOf, type AssignmentPolicy, type PriorityLoad } from './priority_load.ts';
import { endpointHostname } from './eds.ts';
import { rotl1, u64Bytes, xxHash64, xxHash64Bytes } from './xxhash.ts';
import { HOST_SELECTION_ATTEMPTS } from './host_source.ts';

export { typedLbConfig };

/** Envoy's hash of a request key: xxHash64 of each hash policy value, folded. */
export function hashOfKey(key: string): bigint {
  let h: bigint | undefined;
  for (const part of key.split('\n')) {
    const v = xxHash64(part);
    h = h === undefined ? v : rotl1(h) ^ v;
  }
  return h!;
}

/** The bytes Envoy hashes to place a host: envoy.lb hash_key metadata, hostname or address. */
export function hostHashKey(h: UpstreamHost, useHostname: boolean): string {
  const md = h.metadata?.['envoy.lb']?.hash_key;
  if (typeof md === 'string' && md !== '') return md;
  if (useHostname) return endpointHostname.get(h) ?? '';
  return h.address;
}

/** A host and its weight normalised over the table's hosts (Envoy's NormalizedHostWeightVector). */
export interface WeightedHost {
  host: UpstreamHost;
  weight: number;
  key: string;
}

export interface HashingOptions {
  useHostname: boolean;
  /** 0: off; else percent, at least 100. */
  hashBalanceFactor: number;
}

/** consistent_hashing_lb_config (common_lb_config or the typed policy), or an error message. */
export function hashingOptions(cluster: EnvoyJson, typed: EnvoyJson | undefined): HashingOptions | string {
  // The typed RingHash also has the two as (deprecated) fields of its own.
  const c = typed?.consistent_hashing_lb_config ?? (typed && (typed.hash_balance_factor !== undefined || typed.use_hostname_for_hashing !== undefined) ? typed : undefined) ?? cluster.common_lb_config?.consistent_hashing_lb_config ?? {};
  const raw = c.hash_balance_factor;
  const f = raw === undefined ? 0 : Number(typeof raw === 'object' ? raw.value : raw);
  if (!Number.isInteger(f) || (f !== 0 && f < 100)) return `consistent_hashing_lb_config.hash_balance_factor ${raw} must be at least 100`;
  return { useHostname: c.use_hostname_for_hashing === true, hashBalanceFactor: f };
}

/** A u64 from Math.random, for requests without a hash key (Envoy picks a random hash). */
function randomU64(random: () => number): bigint {
  return (BigInt(Math.floor(random() * 0x100000000)) << 32n) | BigInt(Math.floor(random() * 0x100000000));
}

interface PriorityTable<T> {
  hosts: WeightedHost[];
  table: T;
  signature: string;
}

/**
 * A RING_HASH / MAGLEV balancer: per priority a lookup structure T built from normalised host
 * weights; subclasses build it and answer (hash, attempt) -> host.
 */
export abstract class HashingLoadBalancer<T> implements LoadBalancer {
  private priorities: UpstreamHost[][] = [];
  private policy: AssignmentPolicy = policyOf([]);
  private load: PriorityLoad = { healthy: [100], degraded: [0], panic: [false] };
  private tables: (PriorityTable<T> | undefined)[] = [];
  private readonly threshold: number;

  constructor(
    protected readonly stats: Stats,
    cluster: EnvoyJson,
    protected readonly options: HashingOptions = { useHostname: false, hashBalanceFactor: 0 },
    private readonly hostLoad: HostLoad = () => 0,
    private readonly random: () => number = Math.random,
  ) {
    this.threshold = panicThreshold(cluster);
  }

  protected abstract build(hosts: WeightedHost[]): T;
  /** The host for `hash` on the attempt-th try (0 first). */
  protected abstract pick(table: T, hash: bigint, attempt: number): UpstreamHost | undefined;

  update(priorities: UpstreamHost[][]): void {
    this.priorities = priorities;
    this.policy = policyOf(priorities);
    this.load = computePriorityLoad(priorities, this.policy, this.threshold);
    this.tables = priorities.map((hosts, p) => {
      const use = this.load.panic[p] ? hosts : hosts.filter((h) => h.healthy);
      if (use.length === 0) return undefined;
      let sum = 0;
      for (const h of use) sum += h.weight;
      const weighted = use.map((h) => ({ host: h, weight: h.weight / sum, key: hostHashKey(h, this.options.useHostname) }));
      const signature = weighted.map((w) => `${w.key}\u0000${w.host.weight}`).join('\u0001');
      const prev = this.tables[p];
      // Same hosts, same weights, same order: the table is the same (health flips elsewhere).
      if (prev && prev.signature === signature) return { ...prev, hosts: weighted };
      return { hosts: weighted, table: this.build(weighted), signature };
    });
  }

  chooseHost(ctx?: LoadBalancerContext): UpstreamHost | undefined {
    const hash = ctx?.hashKey !== undefined ? hashOfKey(ctx.hashKey) : randomU64(this.random);
    const load = ctx?.previousPriorities?.size ? computePriorityLoad(this.priorities, this.policy, this.threshold, ctx.previousPriorities) : this.load;
    const { priority } = choosePriority(Number(hash % 100n), load);
    const t = this.tables[priority];
    if (!t) return undefined;
    if (this.load.panic[priority]) this.stats.counter('lb_healthy_panic').inc();
    const exclude = ctx?.excludeHosts;
    const attempts = exclude?.size ? HOST_SELECTION_ATTEMPTS : 1;
    let h: UpstreamHost | undefined;
    for (let i = 0; i < attempts; i++) {
      h = this.options.hashBalanceFactor > 0 ? this.boundedPick(t, hash, i) : this.pick(t.table, hash, i);
      if (!h || !exclude?.has(h)) return h;
    }
    return h;
  }

  /** Consistent hashing with bounded loads, as Envoy's BoundedLoadHashingLoadBalancer. */
  private boundedPick(t: PriorityTable<T>, hash: bigint, attempt: number): UpstreamHost | undefined {
    const first = this.pick(t.table, hash, attempt);
    if (!first) return undefined;
    let active = 0;
    for (const w of t.hosts) active += this.hostLoad(w.host);
    const factor = (w: WeightedHost) => {
      const totalSlots = Math.floor(((active + 1) * this.options.hashBalanceFactor + 99) / 100);
      const slots = Math.max(Math.ceil(totalSlots * w.weight), 1);
      return this.hostLoad(w.host) / slots;
    };
    const firstW = t.hosts.find((w) => w.host === first);
    if (!firstW || factor(firstW) <= 1) return first;
    // Overloaded: walk the hosts in an order shuffled by the request hash.
    const n = t.hosts.length;
    const order = Array.from({ length: n }, (_, i) => i);
    let seed = hash;
    let least: UpstreamHost | undefined;
    let leastFactor = Infinity;
    for (let i = 0; i < n; i++) {
      const j = Number(seed % BigInt(n - i));
      [order[i], order[i + j]] = [order[i + j], order[i]];
      const w = t.hosts[order[i]];
      const f = factor(w);
      if (f <= 1) return w.host;
      if (f < leastFactor) {
        leastFactor = f;
        least = w.host;
      }
      seed = xxHash64Bytes(u64Bytes(seed));
    }
    return least;
  }
}

/** A positive integer from a UInt64Value-ish JSON field (number, numeric string or { value }), or undefined. */
export function uint64Field(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const raw = typeof v === 'object' && 'value' in (v as object) ? (v as { value: unknown }).value : v;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}
