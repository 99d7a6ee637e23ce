/**
 * envoy.filters.http.fault: injects delays and aborts for a percentage of requests, from the
 * filter config or a route's typed_per_filter_config (which replaces it), optionally driven by
 * x-envoy-fault-* request headers when header_delay / header_abort are configured. gRPC aborts
 * answer HTTP 200 with grpc-status. Records DI / FI and Envoy's fault.* stats.
 */
import { FilterStatus, type HeaderMap, type HttpFilter, type HttpFilterFactory, type HttpFilterFactoryContext, type StreamFilterCallbacks, type Timer } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { chance, fractionToProbability } from '../common/random.ts';
import { durationMs } from '../../duration.ts';
import { getHeader } from '../common/header_utils.ts';
import { ResponseFlag } from '../common/response_flags.ts';
import { LocalReplyBody } from '../common/local_reply.ts';
import { compileHeaderMatcher, type RoutePredicate } from '../router/route_match.ts';

export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';

export interface FaultConfig {
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
    headers: ((c.headers ?? []) as EnvoyJson[]).map((h) => compileHeaderMatcher(h)),
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

/** The filter's state shared by its streams: envoy's http.<prefix>.fault.* stats and active faults. */
interface Shared {
  active: number;
  delays: ReturnType<HttpFilterFactoryContext['stats']['counter']>;
  aborts: ReturnType<HttpFilterFactoryContext['stats']['counter']>;
  overflow: ReturnType<HttpFilterFactoryContext['stats']['counter']>;
}

class FaultFilter implements HttpFilter {
  private timer: Timer | undefined;
  private active = false;
  private pendingAbort: { status: number; grpc?: number } | undefined;
  constructor(private readonly cb: StreamFilterCallbacks, private readonly base: FaultConfig, private readonly shared: Shared, private readonly ctx: HttpFilterFactoryContext) {}

  decodeHeaders(h: HeaderMap): FilterStatus {
    // A route's typed_per_filter_config replaces the filter's own config, as in Envoy.
    const f = this.cb.perFilterConfig<FaultConfig>(FAULT_FILTER_NAME) ?? this.base;
    const random = this.ctx.random;
    for (const m of f.headers) if (!m({ headers: h, path: '', query: () => new URLSearchParams(), random })) return FilterStatus.Continue;
    if (f.downstreamNodes && !f.downstreamNodes.has(getHeader(h, 'x-envoy-downstream-service-node') ?? '')) return FilterStatus.Continue;
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
    if (f.maxActive !== undefined && this.shared.active >= f.maxActive) {
      this.shared.overflow.inc();
      return FilterStatus.Continue;
    }
    this.active = true;
    this.shared.active++;
    if (doDelay) {
      this.shared.delays.inc();
      this.cb.addResponseFlag(ResponseFlag.DelayInjected);
      this.timer = this.ctx.clock.after(delay!, () => this.onDelayDone());
      return FilterStatus.StopIteration;
    }
    this.abort();
    return FilterStatus.StopIteration;
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
    this.shared.aborts.inc();
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
    this.timer?.cancel();
    this.release();
  }
}

export const faultFilterFactory: HttpFilterFactory = {
  create(config, ctx) {
    const base = compileFault(config);
    const p = `${ctx.statPrefix}fault.`;
    const shared: Shared = { active: 0, delays: ctx.stats.counter(`${p}delays_injected`), aborts: ctx.stats.counter(`${p}aborts_injected`), overflow: ctx.stats.counter(`${p}faults_overflow`) };
    return (cb) => new FaultFilter(cb, base, shared, ctx);
  },
  routeConfig: (config) => compileFault(config),
};
