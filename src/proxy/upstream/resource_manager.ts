/**
 * Circuit breakers (Envoy's ResourceManager): per-cluster limits on connections, pending
 * requests, requests and retries, with Envoy's defaults 1024/1024/1024/3. Admission is
 * `tryAcquire` returning a release function, so a caller cannot release twice by mistake.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Stats } from '../interfaces.ts';

export type ResourceKind = 'requests' | 'pending' | 'retries' | 'connections';

const DEFAULTS: Record<ResourceKind, number> = { connections: 1024, pending: 1024, requests: 1024, retries: 3 };
const FIELD: Record<ResourceKind, string> = { connections: 'max_connections', pending: 'max_pending_requests', requests: 'max_requests', retries: 'max_retries' };
/** Envoy's overflow counters and "circuit open" gauges per resource. */
const OVERFLOW: Record<ResourceKind, string> = { connections: 'upstream_cx_overflow', pending: 'upstream_rq_pending_overflow', requests: 'upstream_rq_pending_overflow', retries: 'upstream_rq_retry_overflow' };
const OPEN: Record<ResourceKind, string> = { connections: 'circuit_breakers.default.cx_open', pending: 'circuit_breakers.default.rq_pending_open', requests: 'circuit_breakers.default.rq_open', retries: 'circuit_breakers.default.rq_retry_open' };

export class ResourceManager {
  readonly max: Record<ResourceKind, number>;
  readonly active: Record<ResourceKind, number> = { connections: 0, pending: 0, requests: 0, retries: 0 };
  /** The "circuit open" gauges, looked up once: release runs per request and a name lookup costs a concat and two Map probes. */
  private readonly open: Partial<Record<ResourceKind, ReturnType<Stats['gauge']>>> = {};

  constructor(circuitBreakers: EnvoyJson | undefined, private readonly stats: Stats) {
    // Only the DEFAULT priority's thresholds apply; HIGH is for priority routing, not used here.
    const t = (circuitBreakers?.thresholds ?? []).find((x: EnvoyJson) => !x.priority || x.priority === 'DEFAULT') ?? {};
    this.max = { ...DEFAULTS };
    for (const k of Object.keys(DEFAULTS) as ResourceKind[]) {
      const v = t[FIELD[k]];
      if (v !== undefined) this.max[k] = Number(v);
    }
  }

  tryAcquire(kind: ResourceKind): (() => void) | undefined {
    if (this.active[kind] >= this.max[kind]) {
      this.stats.counter(OVERFLOW[kind]).inc();
      (this.open[kind] ??= this.stats.gauge(OPEN[kind])).set(1);
      return undefined;
    }
    this.active[kind]++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active[kind]--;
      if (this.active[kind] < this.max[kind]) (this.open[kind] ??= this.stats.gauge(OPEN[kind])).set(0);
    };
  }
}
