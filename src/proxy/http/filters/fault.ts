/**
 * envoy.filters.http.fault: injects delays and aborts for a percentage of requests, from the
 * filter config or a route's typed_per_filter_config (which replaces it), optionally driven by
 * x-envoy-fault-* request headers when header_delay / header_abort are configured. gRPC aborts
 * answer HTTP 200 with grpc-status. Records DI / FI and Envoy's fault.* stats.
 */
import { FilterStatus, type FactoryContext, type HeaderMap, type HttpFilter, type HttpFilterFactory, type StreamFilterCallbacks } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import type { ActiveStream } from '../conn_manager/active_stream.ts';
import { chance, fractionToProbability } from '../common/random.ts';
import { durationMs } from '../../duration.ts';
import { getHeader } from '../common/header_utils.ts';
import { ResponseFlag } from '../common/response_flags.ts';
import { LocalReplyBody } from '../common/local_reply.ts';
import { compileHeaderMatcher, type RoutePredicate } from '../router/route_match.ts';

export const FAULT_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';

interface FaultConfig {
  delayMs?: number;
  headerDelay: boolean;
  delayP: number;
  delayDenominator: number;
  httpStatus?: number;
  grpcStatus?: number;
  headerAbort: boolean;
  abortP: number;
  abortDenominator: number;
  headers: RoutePredicate[];
  downstreamNodes?: Set<string>;
  maxActive?: number;
}

const DEN: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };
const cache = new WeakMap<EnvoyJson, FaultConfig>();

export function compileFault(c: EnvoyJson): FaultConfig {
  const hit = cache.get(c);
  if (hit) return hit;
  const d = c.delay;
  const a = c.abort;
  if (a?.http_status !== undefined && !(a.http_status >= 200 && a.http_status < 600)) throw new Error(`abort.http_status ${a.http_status} out of range [200, 600)`);
  const f: FaultConfig = {
    delayMs: d?.fixed_delay !== undefined ? durationMs(d.fixed_delay) : undefined,
    headerDelay: d?.header_delay !== undefined,
    delayP: d ? fractionToProbability(d.percentage, 1) : 0,
    delayDenominator: DEN[d?.percentage?.denominator ?? 'HUNDRED'] ?? 100,
    httpStatus: a?.http_status,
    grpcStatus: a?.grpc_status,
    headerAbort: a?.header_abort !== undefined,
    abortP: a ? fractionToProbability(a.percentage, 1) : 0,
    abortDenominator: DEN[a?.percentage?.denominator ?? 'HUNDRED'] ?? 100,
    headers: (c.headers ?? []).map(compileHeaderMatcher),
    downstreamNodes: c.downstream_nodes?.length ? new Set(c.downstream_nodes) : undefined,
    maxActive: c.max_active_faults !== undefined ? Number(c.max_active_faults) : undefined,
  };
  cache.set(c, f);
  return f;
}

/** Header-supplied percentage (numerator over the configured denominator), capped by config. */
function headerPercent(h: HeaderMap, name: string, configured: number, den: number): number {
  const v = getHeader(h, name);
  if (v === undefined || !/^\d+$/.test(v)) return configured;
  return Math.min(configured, Number(v) / den);
}

class FaultFilter implements HttpFilter {
  private timer: NodeJS.Timeout | undefined;
  private active = false;
  private pendingAbort: { status: number; grpc?: number } | undefined;
  constructor(private readonly cb: StreamFilterCallbacks, private readonly base: FaultConfig, private readonly shared: { active: number }, private readonly ctx: FactoryContext) {}

  decodeHeaders(h: HeaderMap): FilterStatus {
    const perRoute = (this.cb as ActiveStream).resolve?.().route?.perFilterConfig(FAULT_FILTER_NAME);
    let f = this.base;
    if (perRoute) {
      try {
        f = compileFault(perRoute);
      } catch {
        return FilterStatus.Continue;
      }
    }
    for (const m of f.headers) if (!m({ headers: h, path: '', query: () => new URLSearchParams(), random: Math.random })) return FilterStatus.Continue;
    if (f.downstreamNodes && !f.downstreamNodes.has(getHeader(h, 'x-envoy-downstream-service-node') ?? '')) return FilterStatus.Continue;
    const random = this.ctx.random ?? Math.random;
    // Abort is decided up front and applied after any delay, as in Envoy.
    let abortStatus = f.httpStatus;
    let grpc = f.grpcStatus;
    if (f.headerAbort) {
      const hv = getHeader(h, 'x-envoy-fault-abort-request');
      const gv = getHeader(h, 'x-envoy-fault-abort-grpc-request');
      abortStatus = hv && /^\d+$/.test(hv) && Number(hv) >= 200 && Number(hv) < 600 ? Number(hv) : undefined;
      grpc = gv && /^\d+$/.test(gv) ? Number(gv) : undefined;
    }
    const abortP = f.headerAbort ? headerPercent(h, 'x-envoy-fault-abort-request-percentage', f.abortP, f.abortDenominator) : f.abortP;
    if ((abortStatus !== undefined || grpc !== undefined) && chance(abortP, random)) this.pendingAbort = { status: abortStatus ?? 200, grpc };
    let delay = f.delayMs;
    if (f.headerDelay) {
      const dv = getHeader(h, 'x-envoy-fault-delay-request');
      delay = dv && /^\d+$/.test(dv) ? Number(dv) : undefined;
    }
    const delayP = f.headerDelay ? headerPercent(h, 'x-envoy-fault-delay-request-percentage', f.delayP, f.delayDenominator) : f.delayP;
    const doDelay = delay !== undefined && delay > 0 && chance(delayP, random);
    if (!doDelay && !this.pendingAbort) return FilterStatus.Continue;
    const stats = this.stats();
    if (f.maxActive !== undefined && this.shared.active >= f.maxActive) {
      this.ctx.stats.counter(`${stats}faults_overflow`).inc();
      return FilterStatus.Continue;
    }
    this.active = true;
    this.shared.active++;
    if (doDelay) {
      this.ctx.stats.counter(`${stats}delays_injected`).inc();
      this.cb.addResponseFlag(ResponseFlag.DelayInjected);
      this.timer = setTimeout(onDelayDone, delay, this);
      return FilterStatus.StopIteration;
    }
    this.abort();
    return FilterStatus.StopIteration;
  }

  private stats(): string {
    return `http.${(this.cb as ActiveStream).hcm?.statPrefix ?? ''}.fault.`;
  }

  onDelayDone(): void {
    this.timer = undefined;
    if (this.pendingAbort) return this.abort();
    this.release();
    this.cb.continueDecoding();
  }

  private abort(): void {
    const a = this.pendingAbort!;
    this.release();
    this.ctx.stats.counter(`${this.stats()}aborts_injected`).inc();
    this.cb.streamInfo.responseCodeDetails = 'fault_filter_abort';
    this.cb.sendLocalReply(a.status, LocalReplyBody.faultAbort, undefined, { grpcStatus: a.grpc, responseFlag: ResponseFlag.FaultInjected });
  }

  private release(): void {
    if (this.active) {
      this.active = false;
      this.shared.active--;
    }
  }

  onDestroy(): void {
    if (this.timer) clearTimeout(this.timer);
    this.release();
  }
}

function onDelayDone(f: FaultFilter): void {
  f.onDelayDone();
}

export const faultFilterFactory: HttpFilterFactory = {
  create(config, ctx) {
    const base = compileFault(config);
    const shared = { active: 0 };
    return (cb) => new FaultFilter(cb, base, shared, ctx);
  },
};
