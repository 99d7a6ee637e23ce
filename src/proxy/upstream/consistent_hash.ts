/**
 * What RING_HASH (ring_hash.ts) and MAGLEV (maglev.ts) share: the key hash, priority / panic
 * selection, and the walk that skips unhealthy and retry-excluded hosts.
 *
 * Design choices, and where they differ from Envoy:
 * - The ring / table of a priority is built from all its hosts (healthy or not) and only when the
 *   set of (address, weight) pairs changes, so a host going unhealthy costs no rebuild and moves
 *   only the keys that were on it. Envoy rebuilds from the healthy set instead; the keys that land
 *   on healthy hosts are the same either way, only the spread of the orphaned keys differs.
 * - Hash function: Envoy uses xxHash64 (or MurmurHash2 when asked); byte-for-byte agreement with
 *   Envoy is not a goal, so both hash_function values map onto `hash53` below — two independent
 *   32-bit multiply/rotate lanes cross-mixed at the end, truncated to 53 bits so a hash is an exact
 *   JS number (no BigInt on the request path). A request therefore hashes to the same host on every
 *   tsmesh proxy, but not necessarily to the host an Envoy sidecar would pick.
 */
import type { LoadBalancerContext, Stats, UpstreamHost } from '../interfaces.ts';
import type { LoadBalancer } from './load_balancer.ts';
import type { EnvoyJson } from '../../xds/types.ts';

/** 2^53: hashes live in [0, HASH_SPACE). */
export const HASH_SPACE = 2 ** 53;

function fmix32(h: number): number {
  // Final avalanche so every input bit affects every output bit (the murmur3 finaliser constants).
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * 53-bit hash of a string's UTF-16 code units. Not cryptographic: only used to place keys and
 * hosts on the ring / table, where speed and spread matter.
 */
export function hash53(s: string, seed = 0): number {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x7f4a7c15 ^ Math.imul(seed, 0x27d4eb2f);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0xcc9e2d51);
    a = (a << 15) | (a >>> 17);
    b = Math.imul(b ^ c, 0x1b873593);
    b = (b << 13) | (b >>> 19);
  }
  a ^= s.length;
  b ^= s.length;
  // Cross-mix the lanes so the high and low words do not evolve independently.
  a = fmix32((a + Math.imul(b, 0x85ebca77)) | 0);
  b = fmix32((b ^ a) | 0);
  return (b & 0x1fffff) * 0x100000000 + a;
}

/** A fresh 53-bit hash derived from `h` and `n` (Maglev's retry with a perturbed key). */
export function rehash(h: number, n: number): number {
  const lo = h >>> 0;
  const hi = Math.floor(h / 0x100000000);
  const a = fmix32((lo ^ Math.imul(n + 1, 0x9e3779b9)) | 0);
  const b = fmix32((hi ^ a ^ Math.imul(n + 1, 0x85ebca6b)) | 0);
  return (b & 0x1fffff) * 0x100000000 + a;
}

/** Is this host acceptable for this request? */
export type Accept = (h: UpstreamHost) => boolean;

/**
 * A RING_HASH / MAGLEV balancer: per priority a lookup structure T built from that priority's
 * hosts; subclasses build it and look a hash up in it.
 */
export abstract class HashingLoadBalancer<T> implements LoadBalancer {
  private priorities: UpstreamHost[][] = [];
  private tables: (T | undefined)[] = [];
  /** The hosts (and their weights) each table was built from. */
  private builtFrom: Map<UpstreamHost, number>[] = [];
  /** Priority chosen at the last update / health re-check, and whether it is in panic. */
  private level = -1;
  private panic = false;

  constructor(protected readonly stats: Stats, private readonly random: () => number = Math.random) {}

  /** Builds the lookup structure for one priority's hosts (called only when they changed). */
  protected abstract build(hosts: UpstreamHost[]): T;
  /** The first acceptable host for `hash`, or undefined when none is. */
  protected abstract pick(table: T, hash: number, accept: Accept): UpstreamHost | undefined;

  update(priorities: UpstreamHost[][]): void {
    this.priorities = priorities;
    const tables: (T | undefined)[] = [];
    const builtFrom: Map<UpstreamHost, number>[] = [];
    priorities.forEach((hosts, p) => {
      // The hosts and their weights alone decide placement; health is handled at lookup time, so
      // an EDS push that only flips health (or touches another priority) keeps the table.
      const prev = this.builtFrom[p];
      const same = prev !== undefined && this.tables[p] !== undefined && prev.size === hosts.length && hosts.every((h) => prev.get(h) === h.weight);
      builtFrom[p] = same ? prev : new Map(hosts.map((h) => [h, h.weight]));
      tables[p] = hosts.length === 0 ? undefined : same ? this.tables[p] : this.build(hosts);
    });
    this.tables = tables;
    this.builtFrom = builtFrom;
    this.selectLevel();
  }

  /**
   * The candidate priority as in candidateHosts (load_balancer.ts): the first with a healthy host;
   * below 50% healthy every host of it is eligible (panic). No healthy host anywhere: panic over
   * the first non-empty priority.
   */
  private selectLevel(): void {
    this.level = -1;
    this.panic = false;
    let firstNonEmpty = -1;
    for (let p = 0; p < this.priorities.length; p++) {
      const hosts = this.priorities[p];
      if (hosts.length === 0) continue;
      if (firstNonEmpty < 0) firstNonEmpty = p;
      let healthy = 0;
      for (const h of hosts) if (h.healthy) healthy++;
      if (healthy === 0) continue;
      this.level = p;
      this.panic = healthy / hosts.length < 0.5;
      return;
    }
    if (firstNonEmpty >= 0) {
      this.level = firstNonEmpty;
      this.panic = true;
    }
  }

  chooseHost(ctx?: LoadBalancerContext): UpstreamHost | undefined {
    if (this.level < 0) return undefined;
    // No hash key (no hash_policy matched): a random point, i.e. a weighted random host, as Envoy.
    const hash = ctx?.hashKey !== undefined ? hash53(ctx.hashKey) : Math.floor(this.random() * HASH_SPACE);
    let h = this.lookup(hash, ctx?.excludeHosts);
    if (!h) {
      // Health changed in place since the last update and left the chosen priority without a
      // usable host: choose the priority again (O(hosts), only on this rare path).
      this.selectLevel();
      if (this.level >= 0) h = this.lookup(hash, ctx?.excludeHosts);
    }
    return h;
  }

  private lookup(hash: number, exclude: Set<UpstreamHost> | undefined): UpstreamHost | undefined {
    const table = this.tables[this.level];
    if (table === undefined) return undefined;
    const panic = this.panic;
    if (panic) this.stats.counter('lb_healthy_panic').inc();
    const usable: Accept = panic ? () => true : (h) => h.healthy;
    if (exclude?.size) {
      // Retries: move on from hosts already tried, but rather repeat one than fail outright.
      const h = this.pick(table, hash, (x) => usable(x) && !exclude.has(x));
      if (h) return h;
    }
    return this.pick(table, hash, usable);
  }
}

/** A positive integer from a UInt64Value-ish JSON field (number, numeric string or { value }), or undefined. */
export function uint64Field(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const raw = typeof v === 'object' && 'value' in (v as object) ? (v as { value: unknown }).value : v;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/** The typed load_balancing_policy config of `typeUrl`, if the cluster uses that form. */
export function typedLbConfig(cluster: { load_balancing_policy?: { policies?: any[] } }, typeUrl: string): Record<string, any> | undefined {
  for (const p of cluster.load_balancing_policy?.policies ?? []) {
    const tc = p?.typed_extension_config?.typed_config;
    if (tc?.['@type'] === typeUrl) return tc;
  }
  return undefined;
}

/**
 * ConsistentHashingLbConfig options tsmesh does not implement (hashing by endpoint hostname,
 * bounded loads): a cluster that asks for them is rejected (NACK) rather than served with
 * different behaviour than it asked for. Pilot never sets them.
 */
export function unsupportedHashingOption(cluster: EnvoyJson, typedConfig: EnvoyJson | undefined): string | undefined {
  for (const [at, c] of [
    ['common_lb_config.consistent_hashing_lb_config', cluster.common_lb_config?.consistent_hashing_lb_config],
    ['load_balancing_policy consistent_hashing_lb_config', typedConfig?.consistent_hashing_lb_config],
  ] as const) {
    if (c?.use_hostname_for_hashing) return `${at}.use_hostname_for_hashing is not supported`;
    if (c?.hash_balance_factor !== undefined && Number(c.hash_balance_factor) > 0) return `${at}.hash_balance_factor is not supported`;
  }
  return undefined;
}
