/**
 * envoy.filters.http.jwt_authn (JwtAuthentication): verifies JWTs against configured providers
 * before the request goes on. The first `rules` entry whose RouteMatch matches (or the route's
 * PerRouteConfig: disabled / requirement_name from requirement_map) names the requirement; no
 * match means no check. A failure is Envoy's local reply: 401 (403 when only the audience is
 * wrong) whose body is jwt_verify_lib's status text, `www-authenticate: Bearer
 * realm="<original uri>"` (plus `error="invalid_token"` unless the token was missing) and
 * response code details `jwt_authn_access_denied{...}`.
 *
 * A success writes the verified payloads to dynamic metadata under this filter's name
 * (payload_in_metadata / header_in_metadata) and, for Istio's AuthorizationPolicy, the
 * `istio_authn` attributes (./jwt/istio_authn.ts); a provider with clear_route_cache makes the
 * route be matched again, so routes can match on claims. Stats: <http scope>jwt_authn.{allowed,
 * denied,cors_preflight_bypassed,jwks_fetch_success,jwks_fetch_failed}.
 */
import { FilterStatus, type HeaderMap, type HttpFilter, type HttpFilterFactory, type StreamFilterCallbacks, type Clock } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { getHeader } from '../common/header_utils.ts';
import { setDynamicMetadata } from '../common/dynamic_metadata.ts';
import { compileRouteMatch, type MatchInput, type RoutePredicate } from '../router/route_match.ts';
import { Extractor } from './jwt/extractor.ts';
import { compileProvider, type Provider } from './jwt/provider.ts';
import { compileRequirement, type Providers, type Verifier } from './jwt/requirement.ts';
import type { VerifyContext } from './jwt/authenticator.ts';
import { ISTIO_AUTHN, istioAuthnFields } from './jwt/istio_authn.ts';
import { rcDetails, Status, statusCode, wwwAuthenticate } from './jwt/status.ts';

export const JWT_AUTHN_FILTER_NAME = 'envoy.filters.http.jwt_authn';

interface Rule {
  match: RoutePredicate;
  verifier?: Verifier;
  requirementName?: string;
}

interface JwtConfig {
  rules: Rule[];
  requirements: Map<string, Verifier>;
  bypassCorsPreflight: boolean;
}

/** PerRouteConfig compiled. */
type PerRoute = { disabled: true } | { requirementName: string };

function compileConfig(c: EnvoyJson, deps: Parameters<typeof compileProvider>[2]): JwtConfig {
  if (c.filter_state_rules !== undefined) throw new Error('JwtAuthentication.filter_state_rules: not supported');
  if (c.strip_failure_response === true) throw new Error('JwtAuthentication.strip_failure_response: not supported');
  const byName = new Map<string, Provider>();
  for (const [name, p] of Object.entries((c.providers ?? {}) as Record<string, EnvoyJson>)) {
    byName.set(name, compileProvider(name, p ?? {}, deps, `JwtAuthentication.providers[${name}]`));
  }
  const list = [...byName.values()];
  const ps: Providers = {
    byName,
    byIssuer: (iss) => list.find((p) => p.issuer !== '' && p.issuer === iss) ?? list.find((p) => p.issuer === ''),
    all: new Extractor(list.map((p) => p.config)),
  };
  const requirements = new Map<string, Verifier>();
  for (const [name, r] of Object.entries((c.requirement_map ?? {}) as Record<string, EnvoyJson>)) {
    requirements.set(name, compileRequirement(r, ps, `JwtAuthentication.requirement_map[${name}]`));
  }
  const rules = ((c.rules ?? []) as EnvoyJson[]).map((r, i): Rule => {
    const at = `JwtAuthentication.rules[${i}]`;
    if (!r.match) throw new Error(`${at}.match: required`);
    const match = compileRouteMatch(r.match);
    if (r.requirement_name !== undefined) {
      const name = String(r.requirement_name);
      if (!requirements.has(name)) throw new Error(`${at}.requirement_name: "${name}" is not in requirement_map`);
      return { match, requirementName: name };
    }
    return { match, verifier: r.requires === undefined ? undefined : compileRequirement(r.requires, ps, `${at}.requires`) };
  });
  return { rules, requirements, bypassCorsPreflight: c.bypass_cors_preflight === true };
}

/** Envoy's buildOriginalUri: scheme://host + the path as the client sent it. */
function originalUri(h: HeaderMap): string {
  const path = getHeader(h, 'x-envoy-original-path') ?? getHeader(h, ':path') ?? '';
  return `${getHeader(h, ':scheme') ?? 'http'}://${getHeader(h, ':authority') ?? ''}${path}`;
}

function isCorsPreflight(h: HeaderMap): boolean {
  return h.get(':method') === 'OPTIONS' && !!getHeader(h, 'origin') && !!getHeader(h, 'access-control-request-method');
}

class MatchView implements MatchInput {
  readonly path: string;
  private q: URLSearchParams | undefined;
  constructor(
    readonly headers: HeaderMap,
    private readonly full: string,
    readonly random: () => number,
  ) {
    const i = full.indexOf('?');
    this.path = i < 0 ? full : full.slice(0, i);
  }
  query(): URLSearchParams {
    const i = this.full.indexOf('?');
    return (this.q ??= new URLSearchParams(i < 0 ? '' : this.full.slice(i + 1)));
  }
}

interface FilterStats {
  allowed: { inc(): void };
  denied: { inc(): void };
  corsBypassed: { inc(): void };
}

class JwtAuthnFilter implements HttpFilter {
  private state: 'init' | 'calling' | 'complete' | 'responded' = 'init';
  constructor(
    private readonly cb: StreamFilterCallbacks,
    private readonly config: JwtConfig,
    private readonly stats: FilterStats,
    private readonly clock: Clock,
    private readonly random: () => number,
  ) {}

  private findVerifier(h: HeaderMap): Verifier | undefined | 'unknown' {
    const per = this.cb.perFilterConfig<PerRoute>(JWT_AUTHN_FILTER_NAME);
    if (per) {
      if ('disabled' in per) return undefined;
      return this.config.requirements.get(per.requirementName) ?? 'unknown';
    }
    const input = new MatchView(h, getHeader(h, ':path') ?? '/', this.random);
    for (const r of this.config.rules) {
      if (!r.match(input)) continue;
      return r.requirementName !== undefined ? this.config.requirements.get(r.requirementName) : r.verifier;
    }
    return undefined;
  }

  decodeHeaders(h: HeaderMap): FilterStatus {
    if (this.config.bypassCorsPreflight && isCorsPreflight(h)) {
      // A preflight carries no credentials (CORS spec): let it through whatever the requirement.
      this.stats.corsBypassed.inc();
      this.stats.allowed.inc();
      return FilterStatus.Continue;
    }
    const v = this.findVerifier(h);
    if (v === undefined) {
      this.stats.allowed.inc();
      return FilterStatus.Continue;
    }
    const uri = originalUri(h);
    if (v === 'unknown') {
      this.reject(Status.JwtVerificationFail, uri);
      return FilterStatus.StopIteration;
    }
    const ctx: VerifyContext = { headers: h, now: () => this.clock.now(), extracted: {}, clearRouteCache: false };
    this.state = 'calling';
    v.verify(ctx).then(
      (s) => this.onComplete(s, ctx, uri),
      () => this.onComplete(Status.JwtVerificationFail, ctx, uri),
    );
    return FilterStatus.StopIteration;
  }

  private onComplete(s: Status, ctx: VerifyContext, uri: string): void {
    if (this.state !== 'calling') return;
    const info = this.cb.streamInfo;
    if (Object.keys(ctx.extracted).length > 0) setDynamicMetadata(info, JWT_AUTHN_FILTER_NAME, ctx.extracted);
    if (s !== Status.Ok) {
      this.reject(s, uri);
      return;
    }
    if (ctx.principalPayload) setDynamicMetadata(info, ISTIO_AUTHN, istioAuthnFields(ctx.principalPayload, ctx.principalSpaceDelimited ?? new Set()));
    if (ctx.clearRouteCache) this.cb.clearRouteCache();
    this.stats.allowed.inc();
    this.state = 'complete';
    this.cb.continueDecoding();
  }

  private reject(s: Status, uri: string): void {
    this.state = 'responded';
    this.stats.denied.inc();
    this.cb.streamInfo.responseCodeDetails = rcDetails(s);
    this.cb.sendLocalReply(statusCode(s), s, { 'www-authenticate': wwwAuthenticate(s, uri) });
  }

  onDestroy(): void {
    // A verification still under way finds the stream gone and does nothing.
    if (this.state === 'calling') this.state = 'responded';
  }
  onResetStream(): void {
    this.onDestroy();
  }
}

export const jwtAuthnFilterFactory: HttpFilterFactory = {
  create(typedConfig, ctx) {
    const p = `${ctx.statPrefix}jwt_authn.`;
    const config = compileConfig(typedConfig, {
      cm: ctx.clusterManager,
      clock: ctx.clock,
      fetchStats: { success: ctx.stats.counter(`${p}jwks_fetch_success`), failed: ctx.stats.counter(`${p}jwks_fetch_failed`) },
    });
    const stats: FilterStats = { allowed: ctx.stats.counter(`${p}allowed`), denied: ctx.stats.counter(`${p}denied`), corsBypassed: ctx.stats.counter(`${p}cors_preflight_bypassed`) };
    return (cb) => new JwtAuthnFilter(cb, config, stats, ctx.clock, ctx.random);
  },
  routeConfig(c: EnvoyJson): PerRoute {
    if (c.disabled === true) return { disabled: true };
    if (typeof c.requirement_name === 'string' && c.requirement_name) return { requirementName: c.requirement_name };
    throw new Error('PerRouteConfig: one of disabled, requirement_name is required');
  },
};
