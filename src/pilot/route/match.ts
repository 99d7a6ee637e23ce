/**
 * HTTPMatchRequest → Envoy RouteMatch (Istio's TranslateRouteMatch), and the per-proxy filters
 * that decide whether a match applies at all (port, gateways, sourceLabels, sourceNamespace).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy } from '../types.ts';
import { labelsMatch } from '../util.ts';
import type { HTTPMatchRequest, StringMatch } from '../../api/networking.ts';
import { stringMatcher } from './policies.ts';

const JWT_CLAIM_PREFIX = '@request.auth.claims';
/** Envoy's JWT filter and the dynamic metadata key it stores a verified token's payload under (Istio's names). */
export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
export const JWT_PAYLOAD_KEY = 'payload';

/** `@request.auth.claims.a.b` or `@request.auth.claims[a][b]` → ['a', 'b'] (Istio's ToRoutingClaim). */
function claimPath(header: string): string[] | undefined {
  if (!header.toLowerCase().startsWith(JWT_CLAIM_PREFIX)) return undefined;
  const rest = header.slice(JWT_CLAIM_PREFIX.length);
  if (rest.startsWith('.') && rest.length > 1) return rest.slice(1).split('.');
  if (rest.startsWith('[') && rest.endsWith(']') && rest.length > 2) return rest.slice(1, -1).split('][');
  return undefined;
}

/**
 * Istio's MetadataMatcherForJWTClaims: the claim is read from the payload Envoy's jwt_authn
 * filter leaves in dynamic metadata, and matches when it is a string equal to the value or a
 * list containing it. With no JWT filter on the chain there is no such metadata, so the route
 * cannot match (the proxy must never treat it as matching).
 */
function claimMatcher(claims: string[], m: StringMatch, invert: boolean): EnvoyJson {
  const value = { string_match: stringMatcher(m) ?? { safe_regex: { regex: '.+' } } };
  const out: EnvoyJson = {
    filter: JWT_AUTHN_FILTER,
    path: [JWT_PAYLOAD_KEY, ...claims].map((key) => ({ key })),
    value: { or_match: { value_matchers: [{ list_match: { one_of: value } }, value] } },
  };
  if (invert) out.invert = true;
  return out;
}

/** An empty StringMatch, or a regex that matches anything, only asks for presence. */
function isCatchAll(m: StringMatch | undefined): boolean {
  if (!m) return true;
  if (m.regex !== undefined) return m.regex === '*' || m.regex === '.*';
  return m.exact === undefined && m.prefix === undefined;
}

export function headerMatcher(name: string, m: StringMatch | undefined): EnvoyJson {
  if (isCatchAll(m)) return { name, present_match: true };
  return { name, string_match: stringMatcher(m) };
}

function queryParameterMatcher(name: string, m: StringMatch | undefined): EnvoyJson {
  // `exact: ""` (or no match at all) means "the parameter is present", per Istio's docs.
  if (!m || (m.exact === '' && m.prefix === undefined && m.regex === undefined) || isCatchAll(m)) {
    return { name, present_match: true };
  }
  return { name, string_match: stringMatcher(m) };
}

const byName = (a: EnvoyJson, b: EnvoyJson) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Envoy RouteMatch for one Istio match; no match at all is prefix "/". */
export function translateRouteMatch(m: HTTPMatchRequest | undefined): EnvoyJson {
  const out: EnvoyJson = { prefix: '/' };
  if (!m) return out;
  const headers: EnvoyJson[] = [];
  const metadata: EnvoyJson[] = [];
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    const claims = claimPath(name);
    if (claims) metadata.push(claimMatcher(claims, sm, false));
    else headers.push(headerMatcher(name, sm));
  }
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    const claims = claimPath(name);
    if (claims) metadata.push(claimMatcher(claims, sm, true));
    else headers.push({ ...headerMatcher(name, sm), invert_match: true });
  }
  headers.sort(byName);
  if (m.uri) {
    if (m.uri.exact !== undefined) {
      delete out.prefix;
      out.path = m.uri.exact;
    } else if (m.uri.prefix !== undefined) {
      out.prefix = m.uri.prefix;
    } else if (m.uri.regex !== undefined) {
      delete out.prefix;
      out.safe_regex = { regex: m.uri.regex };
    }
  }
  if (m.ignoreUriCase) out.case_sensitive = false;
  // Pseudo-headers come after the named ones, in Istio's order.
  if (m.method) headers.push(headerMatcher(':method', m.method));
  if (m.authority) headers.push(headerMatcher(':authority', m.authority));
  if (m.scheme) headers.push(headerMatcher(':scheme', m.scheme));
  if (headers.length) out.headers = headers;
  const qp = Object.entries(m.queryParams ?? {}).map(([n, sm]) => queryParameterMatcher(n, sm)).sort(byName);
  if (qp.length) out.query_parameters = qp;
  if (metadata.length) out.dynamic_metadata = metadata;
  return out;
}

/** A route that matches every request: later routes can never be reached. */
export function isCatchAllMatch(match: EnvoyJson): boolean {
  if (match.headers || match.query_parameters || match.dynamic_metadata) return false;
  if (match.prefix === '/') return true;
  if (match.safe_regex) return match.safe_regex.regex === '*' || match.safe_regex.regex === '.*';
  return false;
}

/**
 * Istio's sourceMatchHTTP: a match naming gateways applies only on those; otherwise its
 * sourceLabels must be a subset of the proxy's labels and sourceNamespace the proxy's namespace.
 */
export function sourceMatches(m: HTTPMatchRequest | undefined, proxy: Proxy, gatewayNames: Set<string>): boolean {
  if (!m) return true;
  if (m.gateways && m.gateways.length > 0) return m.gateways.some((g) => gatewayNames.has(g));
  if (!labelsMatch(m.sourceLabels, proxy.labels)) return false;
  return !m.sourceNamespace || m.sourceNamespace === proxy.namespace;
}

/** A match restricted to one port applies only to that port's route configuration. */
export function portMatches(m: HTTPMatchRequest | undefined, listenPort: number): boolean {
  return !m?.port || listenPort === 0 || m.port === listenPort;
}
