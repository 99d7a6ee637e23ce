/**
 * The DNS cache behind Envoy's dynamic forward proxy (extensions.common.dynamic_forward_proxy.v3
 * .DnsCacheConfig), shared by name between the clusters of one proxy as Envoy's DnsCacheManager
 * shares it between the cluster and the HTTP filter.
 *
 * Each entry is one `host:port` with at most one address, like a LOGICAL_DNS host: the first
 * answer in the order dns_lookup_family asks for. Entries are created on first use; the lookup
 * runs once however many requests wait for it. After that an entry is looked up again every
 * dns_refresh_rate (dns_failure_refresh_rate.base_interval while failing), and at that moment it
 * is purged if nobody used it for host_ttl (Envoy checks the TTL at refresh time too). A failed
 * re-resolution keeps the last good address, so a DNS blip does not take a working host away.
 * IP literals are entries at once, without DNS. At most max_hosts entries exist; beyond that
 * load() answers Overflow. Stats are Envoy's, under dns_cache.<name>.*.
 *
 * dns.lookup (getaddrinfo) gives no record TTL, so dns_refresh_rate is the only refresh rate
 * (Envoy would use the record TTL, bounded below by dns_min_refresh_rate).
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';
import type { DnsCacheLoad, Stats } from '../interfaces.ts';
import type { StatsStore } from '../stats/stats_store.ts';
import { durationMs } from '../duration.ts';

/** Every address of `host` for the family (0 = any), in the resolver's order. */
export type LookupFn = (host: string, family: 0 | 4 | 6) => Promise<string[]>;

const defaultLookup: LookupFn = async (host, family) => (await dnsLookup(host, { all: true, family, verbatim: true })).map((r) => r.address);

// Envoy's defaults (dns_cache.proto).
const DEFAULT_REFRESH_MS = 60_000;
const DEFAULT_HOST_TTL_MS = 300_000;
const DEFAULT_MAX_HOSTS = 1024;
const DEFAULT_QUERY_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_PENDING = 1024;

interface Entry {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  address: string | undefined;
  /** Set while a lookup that requests must wait for is under way. */
  pending: Promise<string | undefined> | undefined;
  lastUsed: number;
  timer: NodeJS.Timeout | undefined;
}

/** `host:port`, with IPv6 literals bracketed (the cache key and Envoy's host naming). */
export function hostPortKey(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class DnsCache {
  readonly name: string;
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<() => void>();
  private readonly family: 0 | 4 | 6;
  /** Which family wins among mixed answers: AUTO prefers IPv6, V4_PREFERRED IPv4, ALL takes the first. */
  private readonly prefer: 4 | 6 | 0;
  private readonly refreshMs: number;
  private readonly failureRefreshMs: number;
  private readonly hostTtlMs: number;
  private readonly maxHosts: number;
  private readonly queryTimeoutMs: number;
  private readonly maxPending: number;
  private pendingRequests = 0;
  private closed = false;

  constructor(
    readonly config: EnvoyJson,
    private readonly stats: Stats,
    private readonly lookup: LookupFn = defaultLookup,
  ) {
    this.name = String(config.name ?? '');
    const fam = String(config.dns_lookup_family ?? 'AUTO');
    this.family = fam === 'V4_ONLY' ? 4 : fam === 'V6_ONLY' ? 6 : 0;
    this.prefer = fam === 'V4_PREFERRED' ? 4 : fam === 'ALL' ? 0 : 6;
    this.refreshMs = Math.max(1, durationMs(config.dns_refresh_rate, DEFAULT_REFRESH_MS));
    this.failureRefreshMs = Math.max(1, durationMs(config.dns_failure_refresh_rate?.base_interval, this.refreshMs));
    this.hostTtlMs = durationMs(config.host_ttl, DEFAULT_HOST_TTL_MS);
    this.maxHosts = positive(config.max_hosts, DEFAULT_MAX_HOSTS);
    this.queryTimeoutMs = durationMs(config.dns_query_timeout, DEFAULT_QUERY_TIMEOUT_MS);
    this.maxPending = positive(config.dns_cache_circuit_breaker?.max_pending_requests, DEFAULT_MAX_PENDING);
    for (const n of ['dns_query_attempt', 'dns_query_success', 'dns_query_failure', 'dns_query_timeout', 'host_address_changed', 'host_added', 'host_removed', 'host_overflow', 'dns_rq_pending_overflow']) stats.counter(n);
    stats.gauge('num_hosts');
    for (const sa of config.preresolve_hostnames ?? []) {
      if (typeof sa?.address === 'string' && Number(sa.port_value) > 0) this.load(sa.address.toLowerCase(), Number(sa.port_value));
    }
  }

  /**
   * Envoy's loadDnsCacheEntry: the entry for host:port, starting its lookup if it is new. Callers
   * pass the host already lower-cased and without IPv6 brackets (see parseAuthority).
   */
  load(host: string, port: number): DnsCacheLoad {
    const key = hostPortKey(host, port);
    let e = this.entries.get(key);
    if (e) {
      e.lastUsed = Date.now();
      return e.pending ? { status: 'Loading', done: e.pending } : { status: 'InCache', address: e.address };
    }
    if (this.closed) return { status: 'InCache', address: undefined };
    if (this.entries.size >= this.maxHosts) {
      this.stats.counter('host_overflow').inc();
      return { status: 'Overflow' };
    }
    e = { key, host, port, address: undefined, pending: undefined, lastUsed: Date.now(), timer: undefined };
    this.entries.set(key, e);
    this.stats.counter('host_added').inc();
    this.stats.gauge('num_hosts').set(this.entries.size);
    if (isIP(host)) {
      // An IP literal is its own answer: no lookup, usable in this very call.
      e.address = host;
      this.schedule(e, this.refreshMs);
      this.notify();
      return { status: 'InCache', address: host };
    }
    e.pending = this.resolve(e);
    return { status: 'Loading', done: e.pending };
  }

  /**
   * The address for the load balancer, marking the entry used. An unknown IP literal becomes an
   * entry on the spot; an unknown name starts its lookup (so a later request finds it) and, for
   * this one, there is no host yet.
   */
  address(host: string, port: number): string | undefined {
    const r = this.load(host, port);
    return r.status === 'InCache' ? r.address : undefined;
  }

  /** Resolved entries, for the cluster's host set. */
  resolved(): Array<{ address: string; port: number }> {
    const out: Array<{ address: string; port: number }> = [];
    for (const e of this.entries.values()) if (e.address !== undefined) out.push({ address: e.address, port: e.port });
    return out;
  }

  /** Called after any entry gains, changes or loses its address. */
  onUpdate(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  tryAcquirePending(): (() => void) | undefined {
    if (this.pendingRequests >= this.maxPending) {
      this.stats.counter('dns_rq_pending_overflow').inc();
      return undefined;
    }
    this.pendingRequests++;
    let done = false;
    return () => {
      if (!done) (done = true), this.pendingRequests--;
    };
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
    this.entries.clear();
    this.listeners.clear();
    this.stats.gauge('num_hosts').set(0);
  }

  private async resolve(e: Entry): Promise<string | undefined> {
    this.stats.counter('dns_query_attempt').inc();
    let address: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('DNS query timeout'), { code: 'ETIMEOUT' })), this.queryTimeoutMs);
        timer.unref();
      });
      address = this.pick(await Promise.race([this.lookup(e.host, this.family), timeout]));
    } catch (err) {
      if ((err as { code?: string }).code === 'ETIMEOUT') this.stats.counter('dns_query_timeout').inc();
      address = undefined;
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (this.closed || this.entries.get(e.key) !== e) return address;
    this.stats.counter(address !== undefined ? 'dns_query_success' : 'dns_query_failure').inc();
    e.pending = undefined;
    if (address !== undefined && address !== e.address) {
      if (e.address !== undefined) this.stats.counter('host_address_changed').inc();
      e.address = address;
      this.notify();
    }
    this.schedule(e, address !== undefined ? this.refreshMs : this.failureRefreshMs);
    // A failed refresh keeps the last good address for the caller too.
    return e.address;
  }

  private pick(addresses: string[]): string | undefined {
    if (this.prefer !== 0) {
      const preferred = addresses.find((a) => isIP(a) === this.prefer);
      if (preferred) return preferred;
    }
    return addresses[0];
  }

  private schedule(e: Entry, ms: number): void {
    if (e.timer) clearTimeout(e.timer);
    e.timer = setTimeout(() => this.refresh(e), ms);
    e.timer.unref();
  }

  private refresh(e: Entry): void {
    e.timer = undefined;
    if (this.closed || this.entries.get(e.key) !== e) return;
    if (Date.now() - e.lastUsed >= this.hostTtlMs) {
      this.entries.delete(e.key);
      this.stats.counter('host_removed').inc();
      this.stats.gauge('num_hosts').set(this.entries.size);
      if (e.address !== undefined) this.notify();
      return;
    }
    if (isIP(e.host)) return this.schedule(e, this.refreshMs);
    // Requests wait on the lookup only when there is no address to use meanwhile.
    const p = this.resolve(e);
    if (e.address === undefined) e.pending = p;
  }

  private notify(): void {
    for (const fn of this.listeners) fn();
  }
}

function positive(v: unknown, fallback: number): number {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/**
 * Envoy's DnsCacheManager: one cache per name for the whole proxy, so every cluster (and the
 * filters in front of them) naming the same cache shares its entries. A cache lives while a
 * cluster holds it. A cluster updated with different settings under the same name gets a fresh
 * cache (Envoy rejects that config instead; replacing keeps a CDS update from being refused).
 */
export class DnsCacheManager {
  private readonly caches = new Map<string, { cache: DnsCache; settings: string; refs: number }>();

  constructor(
    private readonly store: StatsStore,
    private readonly lookup?: LookupFn,
  ) {}

  acquire(config: EnvoyJson): { cache: DnsCache; release: () => void } {
    const name = String(config.name ?? '');
    const settings = JSON.stringify(config);
    let slot = this.caches.get(name);
    if (!slot || slot.settings !== settings) {
      slot = { cache: new DnsCache(config, this.store.scope(`dns_cache.${name}.`), this.lookup), settings, refs: 0 };
      this.caches.set(name, slot);
    }
    const held = slot;
    held.refs++;
    let released = false;
    return {
      cache: held.cache,
      release: () => {
        if (released) return;
        released = true;
        if (--held.refs > 0) return;
        held.cache.close();
        if (this.caches.get(name) === held) this.caches.delete(name);
      },
    };
  }

  get(name: string): DnsCache | undefined {
    return this.caches.get(name)?.cache;
  }
}
