/**
 * envoy.filters.http.cors: per-route CorsPolicy (typed_per_filter_config "envoy.filters.http.cors"
 * on route / virtual host / route config, or the legacy route/vhost `cors` field). A preflight
 * (OPTIONS with Access-Control-Request-Method from an allowed origin) is answered locally; actual
 * requests from an allowed origin get Access-Control-Allow-Origin / -Credentials / -Expose-Headers.
 */
import { FilterStatus, type HeaderMap, type HttpFilter, type HttpFilterFactory, type StreamFilterCallbacks } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { compileStringMatcher, type StringPredicate } from '../common/string_matcher.ts';
import { getHeader } from '../common/header_utils.ts';
import { chance, runtimeFractionToProbability } from '../common/random.ts';

export const CORS_FILTER_NAME = 'envoy.filters.http.cors';

export interface CorsPolicy {
  origins: StringPredicate[];
  allowMethods?: string;
  allowHeaders?: string;
  exposeHeaders?: string;
  maxAge?: string;
  allowCredentials: boolean;
  enabledP: number;
  forwardNotMatchingPreflights: boolean;
  allowPrivateNetwork: boolean;
}

const cache = new WeakMap<EnvoyJson, CorsPolicy>();

export function compileCorsPolicy(p: EnvoyJson): CorsPolicy {
  const hit = cache.get(p);
  if (hit) return hit;
  const c: CorsPolicy = {
    origins: ((p.allow_origin_string_match ?? []) as EnvoyJson[]).map((m, i) => compileStringMatcher(m, `cors.allow_origin_string_match[${i}]`)),
    allowMethods: p.allow_methods || undefined,
    allowHeaders: p.allow_headers || undefined,
    exposeHeaders: p.expose_headers || undefined,
    maxAge: p.max_age || undefined,
    allowCredentials: p.allow_credentials === true,
    enabledP: runtimeFractionToProbability(p.filter_enabled, 1),
    forwardNotMatchingPreflights: p.forward_not_matching_preflights !== false,
    allowPrivateNetwork: p.allow_private_network_access === true,
  };
  cache.set(p, c);
  return c;
}

/** The most specific policy for the stream's route (typed_per_filter_config, else the legacy `cors` field), or undefined. */
function policyFor(cb: StreamFilterCallbacks): CorsPolicy | undefined {
  const typed = cb.perFilterConfig<CorsPolicy>(CORS_FILTER_NAME);
  if (typed) return typed;
  const route = cb.routeEntry();
  const legacy = route?.config.route?.cors ?? route?.vhost.config.cors;
  // Legacy policies are compiled once (cached per config object) on first use.
  return legacy ? compileCorsPolicy(legacy) : undefined;
}

class CorsFilter implements HttpFilter {
  private origin: string | undefined;
  private policy: CorsPolicy | undefined;
  private preflight = false;
  constructor(
    private readonly cb: StreamFilterCallbacks,
    private readonly random: () => number,
  ) {}

  decodeHeaders(h: HeaderMap): FilterStatus {
    const origin = getHeader(h, 'origin');
    if (!origin) return FilterStatus.Continue;
    const p = policyFor(this.cb);
    if (!p || !chance(p.enabledP, this.random)) return FilterStatus.Continue;
    if (!p.origins.some((m) => m(origin))) {
      // Not an allowed origin: Envoy leaves the request alone (no CORS headers).
      return FilterStatus.Continue;
    }
    this.origin = origin;
    this.policy = p;
    const isPreflight = h.get(':method') === 'OPTIONS' && !!getHeader(h, 'access-control-request-method');
    if (!isPreflight) return FilterStatus.Continue;
    this.preflight = true;
    const out: HeaderMap = new Map([['access-control-allow-origin', origin]]);
    if (p.allowCredentials) out.set('access-control-allow-credentials', 'true');
    if (p.allowMethods) out.set('access-control-allow-methods', p.allowMethods);
    if (p.allowHeaders) out.set('access-control-allow-headers', p.allowHeaders);
    if (p.maxAge) out.set('access-control-max-age', p.maxAge);
    if (p.allowPrivateNetwork && getHeader(h, 'access-control-request-private-network') === 'true') out.set('access-control-allow-private-network', 'true');
    out.set('content-length', '0');
    this.cb.streamInfo.responseCodeDetails = 'cors_response';
    this.cb.encodeHeaders(200, out, true);
    return FilterStatus.StopIteration;
  }

  encodeHeaders(_status: number, h: HeaderMap): FilterStatus {
    const p = this.policy;
    if (!p || this.preflight || !this.origin) return FilterStatus.Continue;
    h.set('access-control-allow-origin', this.origin);
    if (p.allowCredentials) h.set('access-control-allow-credentials', 'true');
    if (p.exposeHeaders) h.set('access-control-expose-headers', p.exposeHeaders);
    return FilterStatus.Continue;
  }
}

export const corsFilterFactory: HttpFilterFactory = {
  create(_config, ctx) {
    return (cb) => new CorsFilter(cb, ctx.random);
  },
  routeConfig: (config) => compileCorsPolicy(config),
};
