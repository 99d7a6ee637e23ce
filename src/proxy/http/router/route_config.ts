/**
 * A RouteConfiguration compiled once (per config object, cached in a WeakMap so RDS updates
 * recompile naturally): virtual host selection by :authority as Envoy does it — exact domains in
 * a map, then `*.suffix` wildcards longest first, then `prefix*` wildcards longest first, then
 * `*`; a host with a port is tried as is, then without the port.
 */
import type { HeaderMap } from '../../interfaces.ts';
import { TsmeshError } from '../../../api/errors.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { compileHeaderParser, type HeaderParser } from './header_parser.ts';
import { compileRetryPolicy, type RetryPolicy } from './retry_policy.ts';
import { compileRoute, type RouteEntry, type VirtualHostLike } from './route_entry.ts';
import type { MatchInput } from './route_match.ts';
import { authorityPort, stripPort } from '../common/header_utils.ts';

export interface VirtualHost extends VirtualHostLike {
  routes: RouteEntry[];
  includeAttemptCount: boolean;
  includeAttemptCountInResponse: boolean;
  requireTls?: string;
}

/** What `route` found; shared between requests (made when the configuration compiles): read only. */
export interface RouteMatch {
  readonly vhost?: VirtualHost;
  readonly route?: RouteEntry;
}

const NO_MATCH: RouteMatch = Object.freeze({});

/** Authorities remembered per route configuration; past this the memory starts again (bounded against Host floods). */
const MAX_CACHED_AUTHORITIES = 256;

export interface CompiledRouteConfig {
  name: string;
  config: EnvoyJson;
  requestHeaders: HeaderParser;
  responseHeaders: HeaderParser;
  mostSpecificWins: boolean;
  findVirtualHost(authority: string): VirtualHost | undefined;
  /** First matching route of the host chosen by :authority. */
  route(headers: HeaderMap, input: MatchInput): RouteMatch;
}

const cache = new WeakMap<EnvoyJson, CompiledRouteConfig>();

/** Compiles (or returns the cached compilation of) a RouteConfiguration; throws on invalid config. */
export function compileRouteConfig(rc: EnvoyJson): CompiledRouteConfig {
  const hit = cache.get(rc);
  if (hit) return hit;
  const compiled = doCompile(rc);
  cache.set(rc, compiled);
  return compiled;
}

function doCompile(rc: EnvoyJson): CompiledRouteConfig {
  const exact = new Map<string, VirtualHost>();
  const suffixes: [string, VirtualHost][] = [];
  const prefixes: [string, VirtualHost][] = [];
  let star: VirtualHost | undefined;
  const base = {
    config: rc,
    requestHeaders: compileHeaderParser(rc.request_headers_to_add, rc.request_headers_to_remove),
    responseHeaders: compileHeaderParser(rc.response_headers_to_add, rc.response_headers_to_remove),
    mostSpecificWins: rc.most_specific_header_mutations_wins === true,
  };
  const ignorePort = rc.ignore_port_in_host_matching === true;
  // require_tls: Envoy's SslRedirectRoute, a 301 to https answered instead of the host's routes.
  const sslRedirects = new Map<VirtualHost, RouteEntry>();
  for (const [vi, v] of ((rc.virtual_hosts ?? []) as EnvoyJson[]).entries()) {
    const retry: RetryPolicy | undefined = compileRetryPolicy(v.retry_policy);
    const vh: VirtualHost = {
      name: String(v.name ?? ''),
      config: v,
      retry,
      requestHeaders: compileHeaderParser(v.request_headers_to_add, v.request_headers_to_remove),
      responseHeaders: compileHeaderParser(v.response_headers_to_add, v.response_headers_to_remove),
      routeConfig: base,
      routes: [],
      includeAttemptCount: v.include_request_attempt_count === true,
      includeAttemptCountInResponse: v.include_attempt_count_in_response === true,
      requireTls: v.require_tls,
    };
    vh.routes = ((v.routes ?? []) as EnvoyJson[]).map((r, i) => {
      try {
        return compileRoute(r, vh, i);
      } catch (e) {
        // Name the field path, so the NACK says which route of which host cannot be compiled.
        throw Object.assign(new Error(`virtual_hosts[${vi}].routes[${i}]: ${(e as Error).message}`, { cause: e }), { code: (e as { code?: string }).code });
      }
    });
    if (vh.requireTls === 'ALL' || vh.requireTls === 'EXTERNAL_ONLY') {
      sslRedirects.set(vh, compileRoute({ name: `${vh.name}/require_tls`, match: { prefix: '/' }, redirect: { https_redirect: true } }, vh, vh.routes.length));
    }
    for (const d0 of (v.domains ?? []) as string[]) {
      const d = d0.toLowerCase();
      const clash = (): never => {
        throw new Error(`route config ${rc.name}: domain ${JSON.stringify(d0)} appears in more than one virtual host`);
      };
      if (d === '*') {
        if (star) clash();
        star = vh;
      } else if (d.startsWith('*')) {
        if (suffixes.some(([s]) => s === d.slice(1))) clash();
        suffixes.push([d.slice(1), vh]);
      } else if (d.endsWith('*')) {
        if (prefixes.some(([s]) => s === d.slice(0, -1))) clash();
        prefixes.push([d.slice(0, -1), vh]);
      } else {
        if (exact.has(d)) clash();
        exact.set(d, vh);
      }
    }
  }
  // Longest wildcard wins, as in Envoy.
  suffixes.sort((a, b) => b[0].length - a[0].length);
  prefixes.sort((a, b) => b[0].length - a[0].length);

  const lookup = (host: string): VirtualHost | undefined => {
    const e = exact.get(host);
    if (e) return e;
    for (const [s, vh] of suffixes) if (host.length > s.length && host.endsWith(s)) return vh;
    for (const [p, vh] of prefixes) if (host.length > p.length && host.startsWith(p)) return vh;
    return undefined;
  };
  const searchVirtualHost = (authority: string): VirtualHost | undefined => {
    const host = authority.toLowerCase();
    const hasPort = authorityPort(host) !== undefined;
    if (!ignorePort || !hasPort) {
      const vh = lookup(host);
      if (vh) return vh;
    }
    if (hasPort) {
      const vh = lookup(stripPort(host).replace(/^\[|\]$/g, ''));
      if (vh) return vh;
    }
    return star;
  };
  // A proxy sees few distinct authorities: the search (lower-casing, port parsing) runs once for each.
  const byAuthority = new Map<string, VirtualHost | null>();
  const findVirtualHost = (authority: string): VirtualHost | undefined => {
    let vh = byAuthority.get(authority);
    if (vh === undefined) {
      vh = searchVirtualHost(authority) ?? null;
      if (byAuthority.size >= MAX_CACHED_AUTHORITIES) byAuthority.clear();
      byAuthority.set(authority, vh);
    }
    return vh ?? undefined;
  };
  // Every answer `route` can give, made once.
  const matches = new Map<RouteEntry | VirtualHost, RouteMatch>();
  const matchOf = (vhost: VirtualHost, route?: RouteEntry): RouteMatch => {
    const key = route ?? vhost;
    let m = matches.get(key);
    if (!m) matches.set(key, (m = Object.freeze(route ? { vhost, route } : { vhost })));
    return m;
  };
  return {
    name: String(rc.name ?? ''),
    ...base,
    findVirtualHost,
    route(headers, input) {
      const authority = headers.get(':authority');
      const vhost = findVirtualHost(typeof authority === 'string' ? authority : authority?.[0] ?? '');
      if (!vhost) return NO_MATCH;
      const ssl = sslRedirects.get(vhost);
      if (ssl && headerValue(headers, 'x-forwarded-proto') !== 'https') {
        // EXTERNAL_ONLY lets internal requests (x-envoy-internal: true) through in plaintext.
        if (vhost.requireTls === 'ALL' || headerValue(headers, 'x-envoy-internal') !== 'true') return matchOf(vhost, ssl);
      }
      for (const r of vhost.routes) if (r.matches(input)) return matchOf(vhost, r);
      return matchOf(vhost);
    },
  };
}

function headerValue(headers: HeaderMap, name: string): string | undefined {
  const v = headers.get(name);
  return typeof v === 'string' ? v : v?.[0];
}
