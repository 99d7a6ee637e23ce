/**
 * Circuit breakers (Envoy's ResourceManager): cluster-wide limits on connections, pending
 * requests, requests and retries, with Envoy's defaults 1024/1024/1024/3, counted across every
 * host's pool. Requests and retries are admitted by `tryAcquire`, which returns a release
 * function so a caller cannot release twice by mistake; connections and pending requests are
 * counted by the connection pools through `PoolLimits`. A `retry_budget` replaces max_retries
 * by a share of the requests the pools hold, running or pending (./retry_budget.ts): as in Envoy,
 * where those are streams, a request waiting out a back-off is not among them. With `track_remaining`,
 * the remaining_* gauges follow every change.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Stats } from '../interfaces.ts';
import type { PoolLimits } from './pool_limits.ts';
import { RetryBudget } from './retry_budget.ts';

export type ResourceKind = 'requests' | 'pending' | 'retries' | 'connections';

type Gauge = ReturnType<Stats['gauge']>;
type Counter = ReturnType<Stats['counter']>;

const KINDS: readonly ResourceKind[] = ['connections', 'pending', 'requests', 'retries'];
const DEFAULTS: Record<ResourceKind, number> = { connections: 1024, pending: 1024, requests: 1024, retries: 3 };
const FIELD: Record<ResourceKind, string> = { connections: 'max_connections', pending: 'max_pending_requests', requests: 'max_requests', retries: 'max_retries' };
/** Envoy's overflow counters: a request over max_requests counts as a pending overflow, as in Envoy's pools. */
const OVERFLOW: Record<ResourceKind, string> = { connections: 'upstream_cx_overflow', pending: 'upstream_rq_pending_overflow', requests: 'upstream_rq_pending_overflow', retries: 'upstream_rq_retry_overflow' };
/** "Circuit open" gauges (1 while the resource is at its limit). */
const OPEN: Record<ResourceKind, string> = { connections: 'circuit_breakers.default.cx_open', pending: 'circuit_breakers.default.rq_pending_open', requests: 'circuit_breakers.default.rq_open', retries: 'circuit_breakers.default.rq_retry_open' };
const REMAINING: Record<ResourceKind, string> = { connections: 'circuit_breakers.default.remaining_cx', pending: 'circuit_breakers.default.remaining_pending', requests: 'circuit_breakers.default.remaining_rq', retries: 'circuit_breakers.default.remaining_retries' };

/**
 * The thresholds that apply: DEFAULT priority's. HIGH is accepted (Istio never sends it; routes
 * asking for HIGH priority are not told apart here).
 */
function defaultThresholds(circuitBreakers: EnvoyJson | undefined): EnvoyJson {
  return (circuitBreakers?.thresholds ?? []).find((x: EnvoyJson) => !x.priority || x.priority === 'DEFAULT') ?? {};
}

export class ResourceManager implements PoolLimits {
  /** Configured maxima; for retries under a budget, see `maxOf`. */
  readonly max: Record<ResourceKind, number>;
  readonly active: Record<ResourceKind, number> = { connections: 0, pending: 0, requests: 0, retries: 0 };
  readonly budget: RetryBudget | undefined;
  /** Requests queued or running on the cluster's pools (Envoy's active + pending requests). */
  private attempts = 0;
  /** Gauges and counters looked up once: admission runs per request. */
  private readonly open: Record<ResourceKind, Gauge>;
  private readonly overflowCounter: Record<ResourceKind, Counter>;
  private readonly remaining: Record<ResourceKind, Gauge> | undefined;

  constructor(circuitBreakers: EnvoyJson | undefined, stats: Stats) {
    const t = defaultThresholds(circuitBreakers);
    this.max = { ...DEFAULTS };
    for (const k of KINDS) {
      const v = t[FIELD[k]];
      if (v !== undefined) this.max[k] = Number(v);
    }
    this.budget = t.retry_budget ? RetryBudget.from(t.retry_budget) : undefined;
    this.open = {} as Record<ResourceKind, Gauge>;
    this.overflowCounter = {} as Record<ResourceKind, Counter>;
    for (const k of KINDS) {
      this.open[k] = stats.gauge(OPEN[k]);
      this.overflowCounter[k] = stats.counter(OVERFLOW[k]);
    }
    if (t.track_remaining) {
      this.remaining = {} as Record<ResourceKind, Gauge>;
      for (const k of KINDS) this.remaining[k] = stats.gauge(REMAINING[k]);
      for (const k of KINDS) this.refresh(k);
    }
  }

  /** The limit now: fixed, except retries under a budget (a share of the requests on the pools). */
  maxOf(kind: ResourceKind): number {
    if (kind === 'retries' && this.budget) return this.budget.max(this.attempts);
    return this.max[kind];
  }

  canCreate(kind: ResourceKind): boolean {
    return this.active[kind] < this.maxOf(kind);
  }

  tryAcquire(kind: ResourceKind): (() => void) | undefined {
    if (!this.canCreate(kind)) {
      this.overflow(kind);
      return undefined;
    }
    this.adjust(kind, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.adjust(kind, -1);
    };
  }

  /** Counts an overflow of `kind` and opens its circuit gauge. */
  overflow(kind: ResourceKind): void {
    this.overflowCounter[kind].inc();
    this.open[kind].set(1);
  }

  // ---------- PoolLimits ----------

  tryOpenConnection(poolHasNone: boolean): boolean {
    if (!this.canCreate('connections')) {
      this.overflow('connections');
      // Envoy still opens one for a pool with none, so that its queue is not stranded while other
      // hosts' connections hold the whole budget.
      if (!poolHasNone) return false;
    }
    this.adjust('connections', 1);
    return true;
  }

  connectionClosed(): void {
    this.adjust('connections', -1);
  }

  pendingFull(): boolean {
    return !this.canCreate('pending');
  }

  pendingOverflow(): void {
    this.overflow('pending');
  }

  pendingChanged(n: number): void {
    if (n !== 0) this.adjust('pending', n);
  }

  attemptsChanged(n: number): void {
    this.attempts += n;
    // The budget moves with the requests: so do its gauges.
    if (this.budget !== undefined) {
      if (this.remaining !== undefined) this.refresh('retries');
      this.open.retries.set(this.active.retries < this.maxOf('retries') ? 0 : 1);
    }
  }

  // ---------- gauges ----------

  private adjust(kind: ResourceKind, n: number): void {
    this.active[kind] += n;
    if (this.active[kind] < this.maxOf(kind)) this.open[kind].set(0);
    else if (n > 0) this.open[kind].set(1);
    if (this.remaining !== undefined) this.refresh(kind);
  }

  /** remaining_<kind> (track_remaining): what is left of the limit. */
  private refresh(kind: ResourceKind): void {
    this.remaining![kind].set(Math.max(0, this.maxOf(kind) - this.active[kind]));
  }
}
