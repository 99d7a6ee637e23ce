/**
 * Per-route policies that Envoy reads from elsewhere than the route action: fault injection and
 * CORS (typed_per_filter_config for their HTTP filters) and mirroring fractions.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { envoyDurationOf } from '../util.ts';
import type { CorsPolicy, HTTPFaultInjection, HTTPRoute, Percent, StringMatch } from '../../api/networking.ts';
import { HTTP_FILTER } from '../../xds/type_urls.ts';

export const FAULT_FILTER = 'envoy.filters.http.fault';
export const CORS_FILTER = 'envoy.filters.http.cors';
const FAULT_TYPE = HTTP_FILTER.FAULT;
const CORS_TYPE = HTTP_FILTER.CORS_POLICY;

/** gRPC status names (Istio's grpcStatus is written as a name) → numeric codes. */
const GRPC_CODES: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5,
  ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10,
  OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

/** Istio's Percent (a double, 0-100) as a per-million FractionalPercent, keeping 4 decimals. */
export function fractionFromPercent(p: Percent | undefined): EnvoyJson {
  return { numerator: Math.round((p?.value ?? 0) * 10000), denominator: 'MILLION' };
}

/** The legacy integer percent as a per-hundred FractionalPercent. */
export function fractionFromInteger(n: number | undefined): EnvoyJson {
  return { numerator: n ?? 0, denominator: 'HUNDRED' };
}

/** `fault` → HTTPFault (Any), or undefined when nothing Envoy can do is configured. */
export function translateFault(fault: HTTPFaultInjection | undefined): EnvoyJson | undefined {
  if (!fault) return undefined;
  const out: EnvoyJson = { '@type': FAULT_TYPE };
  const d = fault.delay;
  const fixed = envoyDurationOf(d?.fixedDelay);
  // Exponential delays are not supported by Envoy; Istio drops them too.
  if (d && fixed) {
    out.delay = {
      fixed_delay: fixed,
      percentage: d.percentage ? fractionFromPercent(d.percentage) : fractionFromInteger(d.percent),
    };
  }
  const a = fault.abort;
  if (a) {
    const abort: EnvoyJson = {};
    if (a.httpStatus !== undefined) abort.http_status = a.httpStatus;
    else if (a.grpcStatus !== undefined && GRPC_CODES[a.grpcStatus] !== undefined) abort.grpc_status = GRPC_CODES[a.grpcStatus];
    if (abort.http_status !== undefined || abort.grpc_status !== undefined) {
      if (a.percentage) abort.percentage = fractionFromPercent(a.percentage);
      out.abort = abort;
    }
  }
  return out.delay || out.abort ? out : undefined;
}

/** Istio's StringMatch as Envoy's type.matcher.v3.StringMatcher (undefined for an empty one). */
export function stringMatcher(m: StringMatch | undefined, ignoreCase = false): EnvoyJson | undefined {
  if (!m) return undefined;
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (m.exact !== undefined) return { exact: m.exact, ...ic };
  if (m.prefix !== undefined) return { prefix: m.prefix, ...ic };
  if (m.regex !== undefined) return { safe_regex: { regex: m.regex } };
  return undefined;
}

/** Envoy wants max_age as a string of whole seconds. */
function seconds(d: string | undefined): string | undefined {
  const s = envoyDurationOf(d);
  return s === undefined ? undefined : String(Math.floor(Number(s.slice(0, -1))));
}

/** `corsPolicy` → CorsPolicy (Any) for the CORS filter. */
export function translateCors(c: CorsPolicy | undefined): EnvoyJson | undefined {
  if (!c) return undefined;
  const out: EnvoyJson = { '@type': CORS_TYPE };
  const origins = c.allowOrigins?.map((m) => stringMatcher(m)).filter((m): m is EnvoyJson => !!m) ?? c.allowOrigin?.map((o) => ({ exact: o }));
  if (origins && origins.length > 0) out.allow_origin_string_match = origins;
  if (c.allowMethods?.length) out.allow_methods = c.allowMethods.join(',');
  if (c.allowHeaders?.length) out.allow_headers = c.allowHeaders.join(',');
  if (c.exposeHeaders?.length) out.expose_headers = c.exposeHeaders.join(',');
  const maxAge = seconds(c.maxAge);
  if (maxAge !== undefined) out.max_age = maxAge;
  if (c.allowCredentials !== undefined) out.allow_credentials = c.allowCredentials;
  out.filter_enabled = { default_value: { numerator: 100, denominator: 'HUNDRED' } };
  // Envoy >= 1.30 stops forwarding unmatched preflights by default; Istio keeps forwarding
  // unless told to IGNORE.
  out.forward_not_matching_preflights = c.unmatchedPreflights !== 'IGNORE';
  return out;
}

/**
 * Mirror fraction for the legacy single `mirror` (Istio's MirrorPercent): mirrorPercentage, else
 * the integer mirrorPercent, else 100%. Zero means "do not mirror" (undefined).
 */
export function mirrorFraction(r: HTTPRoute): EnvoyJson | undefined {
  if (r.mirrorPercentage) return (r.mirrorPercentage.value ?? 0) > 0 ? { default_value: fractionFromPercent(r.mirrorPercentage) } : undefined;
  const legacy = r.mirrorPercent ?? r.mirror_percent;
  if (legacy !== undefined) return legacy > 0 ? { default_value: fractionFromInteger(legacy) } : undefined;
  return { default_value: { numerator: 100, denominator: 'HUNDRED' } };
}

/** Mirror fraction for one entry of `mirrors`. */
export function mirrorPolicyFraction(p: Percent | undefined): EnvoyJson | undefined {
  if (!p) return { default_value: { numerator: 100, denominator: 'HUNDRED' } };
  return (p.value ?? 0) > 0 ? { default_value: fractionFromPercent(p) } : undefined;
}
