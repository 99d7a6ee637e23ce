/**
 * RequestAuthentication as Envoy's jwt_authn filter for one workload (Istio's
 * convertToEnvoyJwtConfig): every jwtRule of every applicable policy, sorted by issuer, becomes
 * provider `origins-<i>`; the one rule requires, for each provider, "its token, or none" — an
 * invalid token is refused with 401, a request without one passes (an AuthorizationPolicy with
 * requestPrincipals is what makes a token mandatory). With several providers the requirement is
 * any of {P1, P2, ..., all of {P1 or missing, P2 or missing, ...}}, so providers sharing a token
 * location still work.
 *
 * Keys: inline `jwks` becomes local_jwks. A `jwksUri` becomes remote_jwks fetched by the proxy
 * through the mesh, via the outbound cluster of the service that serves the URI's host and port
 * (Istio's remote mode, PILOT_JWT_ENABLE_REMOTE_JWKS). tsmesh does not have istiod fetch and
 * inline the keys (Istio's default) because pilot is pure; the host must be a mesh service (a
 * ServiceEntry for an external issuer), else the cluster named is the one it would have, which
 * does not exist, so tokens fail with "Jwks remote fetch is failed" (fail closed, as Istio).
 */
import type { Config } from '../../api/types.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { HTTP_FILTER } from '../../xds/type_urls.ts';
import type { Proxy, PushContext } from '../types.ts';
import { clusterName } from '../cluster/name.ts';
import { applicableRequestAuthentications } from './select.ts';

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
/** Where the verified payload goes in dynamic metadata (Istio's filters.EnvoyJwtFilterPayload). */
export const JWT_PAYLOAD_KEY = 'payload';
const DEFAULT_TIMEOUT = '5s';
const CACHE_DURATION = '300s';

/** Claims Istio always treats as space-delimited lists (OAuth scopes and permissions). */
const DEFAULT_SPACE_DELIMITED = ['permission', 'scope'];

type JwtRule = Record<string, any>;

function jwksCluster(uri: string): string {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return clusterName('outbound', 80, undefined, uri);
  }
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  // Named as the outbound cluster of the service with that hostname and port: it exists when
  // one is in the registry (a ServiceEntry for an outside issuer), and fails closed otherwise.
  return clusterName('outbound', port, undefined, u.hostname);
}

function provider(r: JwtRule): EnvoyJson {
  const p: EnvoyJson = { issuer: String(r.issuer ?? '') };
  if (Array.isArray(r.audiences) && r.audiences.length > 0) p.audiences = r.audiences.map(String);
  if (r.jwks) p.local_jwks = { inline_string: String(r.jwks) };
  else {
    const uri = String(r.jwksUri ?? r.jwks_uri ?? '');
    p.remote_jwks = { http_uri: { uri, cluster: jwksCluster(uri), timeout: r.timeout ? String(r.timeout) : DEFAULT_TIMEOUT }, cache_duration: CACHE_DURATION };
  }
  if (Array.isArray(r.fromHeaders) && r.fromHeaders.length > 0) {
    p.from_headers = r.fromHeaders.map((h: JwtRule) => (h.prefix ? { name: String(h.name), value_prefix: String(h.prefix) } : { name: String(h.name) }));
  }
  if (Array.isArray(r.fromParams) && r.fromParams.length > 0) p.from_params = r.fromParams.map(String);
  if (Array.isArray(r.fromCookies) && r.fromCookies.length > 0) p.from_cookies = r.fromCookies.map(String);
  if (r.forwardOriginalToken === true) p.forward = true;
  if (r.outputPayloadToHeader) p.forward_payload_header = String(r.outputPayloadToHeader);
  p.payload_in_metadata = JWT_PAYLOAD_KEY;
  const spaceDelimited = [...new Set([...DEFAULT_SPACE_DELIMITED, ...((r.spaceDelimitedClaims ?? []) as unknown[]).map(String)])].sort();
  p.normalize_payload_in_metadata = { space_delimited_claims: spaceDelimited };
  if (Array.isArray(r.outputClaimToHeaders) && r.outputClaimToHeaders.length > 0) {
    p.claim_to_headers = r.outputClaimToHeaders.map((c: JwtRule) => ({ header_name: String(c.header), claim_name: String(c.claim) }));
  }
  return p;
}

/**
 * The JwtAuthentication config for a workload, or undefined when no RequestAuthentication with
 * jwtRules applies. `clearRouteCache` is set on gateways, where VirtualServices route on claims.
 */
export function jwtAuthentication(push: PushContext, proxy: Proxy, policies: Config[] = applicableRequestAuthentications(push, proxy)): EnvoyJson | undefined {
  const rules: JwtRule[] = [];
  for (const c of policies) for (const r of (c.spec?.jwtRules ?? []) as JwtRule[]) if (r) rules.push(r);
  if (rules.length === 0) return undefined;
  // Stable by issuer (Istio sorts them so the config is deterministic).
  const sorted = rules.map((r, i) => ({ r, i })).sort((a, b) => (String(a.r.issuer) < String(b.r.issuer) ? -1 : String(a.r.issuer) > String(b.r.issuer) ? 1 : a.i - b.i)).map((x) => x.r);
  const providers: Record<string, EnvoyJson> = {};
  const inner: EnvoyJson[] = [];
  const outer: EnvoyJson[] = [];
  sorted.forEach((r, i) => {
    const name = `origins-${i}`;
    const p = provider(r);
    if (proxy.type === 'router') p.clear_route_cache = true;
    providers[name] = p;
    inner.push({ requires_any: { requirements: [{ provider_name: name }, { allow_missing: {} }] } });
    outer.push({ provider_name: name });
  });
  const requires = inner.length === 1 ? inner[0]! : { requires_any: { requirements: [...outer, { requires_all: { requirements: inner } }] } };
  return { '@type': HTTP_FILTER.JWT_AUTHN, providers, rules: [{ match: { prefix: '/' }, requires }], bypass_cors_preflight: true };
}

/** The jwt_authn HttpFilter for a workload's inbound (or a gateway's) HTTP chains, or undefined. */
export function authnHttpFilter(push: PushContext, proxy: Proxy): EnvoyJson | undefined {
  const cfg = jwtAuthentication(push, proxy);
  return cfg ? { name: JWT_AUTHN_FILTER, typed_config: cfg } : undefined;
}
