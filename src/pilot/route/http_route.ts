/**
 * One VirtualService's HTTP rules → Envoy routes (Istio's BuildHTTPRoutesForVirtualService), and
 * the default route a service gets when no VirtualService routes it.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { pushIndex } from '../push_context.ts';
import type { Proxy, PushContext } from '../types.ts';
import { envoyDurationOf } from '../util.ts';
import type { VirtualService } from '../virtualservice/index.ts';
import type { HTTPMatchRequest, HTTPRedirect, HTTPRoute, HTTPRouteDestination } from '../../api/networking.ts';
import { parseClusterName } from '../cluster/name.ts';
import { destinationPort, outboundClusterName } from './destination.ts';
import { routeHashPolicy } from './hash.ts';
import { appendMutations, translateHeaders } from './headers.ts';
import { isCatchAllMatch, portMatches, sourceMatches, translateRouteMatch } from './match.ts';
import { CORS_FILTER, FAULT_FILTER, mirrorFraction, mirrorPolicyFraction, translateCors, translateFault } from './policies.ts';
import { translateRetryPolicy } from './retry.ts';
import { carryingDestinations } from './weighted.ts';

/** What every route of one route configuration shares. */
export interface RouteOptions {
  push: PushContext;
  proxy: Proxy;
  /** The port the route configuration serves (0 when not port-specific). */
  listenPort: number;
  /** Gateways this proxy answers to ("mesh" for sidecars), for match.gateways. */
  gatewayNames: Set<string>;
  /** Proxyless gRPC reads max_stream_duration, not the deprecated max_grpc_timeout. */
  grpc: boolean;
}

export const DEFAULT_ROUTE_NAME = 'default';

/**
 * Istio's setTimeout: 0s disables Envoy's 15s default; gRPC deadlines are capped by it too.
 * Sidecars get the deprecated max_grpc_timeout, as Istio writes (max_stream_duration counts from
 * the stream's start, so it would cut requests before the route timeout answers 504).
 */
function applyTimeout(action: EnvoyJson, timeout: string | undefined, grpc: boolean): void {
  const t = envoyDurationOf(timeout) ?? '0s';
  action.timeout = t;
  if (grpc) action.max_stream_duration = { max_stream_duration: t };
  else action.max_grpc_timeout = t;
}

/** Istio's getRouteOperation: the tracing span name of a route. */
function operation(route: EnvoyJson, vsName: string, port: number): string {
  const m = route.match ?? {};
  const path = m.prefix !== undefined ? `${m.prefix}*` : m.path !== undefined ? m.path : m.safe_regex ? m.safe_regex.regex : '/*';
  const c = parseClusterName(route.route?.cluster ?? '');
  return c ? `${c.host}:${c.port}${path}` : `${vsName}:${port}${path}`;
}

/** The route Istio gives a service port no VirtualService routes. */
export function buildDefaultRoute(opts: RouteOptions, host: string, port: number): EnvoyJson {
  const hash = routeHashPolicy(opts.push, opts.proxy, host, undefined, port);
  const action: EnvoyJson = { cluster: outboundClusterName(port, undefined, host) };
  applyTimeout(action, undefined, opts.grpc);
  const retry = translateRetryPolicy(meshDefaultRetries(opts.push), !!hash);
  if (retry) action.retry_policy = retry;
  if (hash) action.hash_policy = hash;
  return { name: DEFAULT_ROUTE_NAME, match: { prefix: '/' }, route: action, decorator: { operation: `${host}:${port}/*` } };
}

/** meshConfig.defaultHttpRetryPolicy, when the mesh sets one (Istio honours it). */
function meshDefaultRetries(push: PushContext): HTTPRoute['retries'] {
  return (push.mesh as { defaultHttpRetryPolicy?: HTTPRoute['retries'] }).defaultHttpRetryPolicy;
}

/**
 * Envoy routes for one (resolved, delegate-merged) VirtualService: one per match, in order;
 * matches that do not apply to this proxy or port are skipped, and nothing follows a catch-all.
 */
export function buildVirtualServiceRoutes(vs: VirtualService, opts: RouteOptions): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  for (const http of vs.spec.http ?? []) {
    let catchAll = false;
    if (!http.match || http.match.length === 0) {
      const r = translateRoute(vs, http, undefined, opts);
      if (r) out.push(r);
      catchAll = true;
    } else {
      for (const m of http.match) {
        const r = translateRoute(vs, http, m, opts);
        if (!r) continue;
        out.push(r);
        if (isCatchAllMatch(r.match)) {
          catchAll = true;
          break;
        }
      }
    }
    if (catchAll) break;
  }
  return out;
}

function translateRoute(vs: VirtualService, http: HTTPRoute, match: HTTPMatchRequest | undefined, opts: RouteOptions): EnvoyJson | undefined {
  if (!portMatches(match, opts.listenPort) || !sourceMatches(match, opts.proxy, opts.gatewayNames)) return undefined;
  const out: EnvoyJson = {};
  const name = [http.name, match?.name].filter(Boolean).join('.');
  if (name) out.name = name;
  out.match = translateRouteMatch(match);
  if (match?.statPrefix) out.stat_prefix = match.statPrefix;
  const headers = translateHeaders(http.headers);
  appendMutations(out, headers.mutations);

  if (http.redirect) {
    out.redirect = translateRedirect(http.redirect);
  } else if (http.directResponse) {
    const dr: EnvoyJson = { status: http.directResponse.status };
    const body = http.directResponse.body;
    if (body?.string !== undefined) dr.body = { inline_string: body.string };
    else if (body?.bytes !== undefined) dr.body = { inline_bytes: body.bytes };
    out.direct_response = dr;
  } else {
    const action = routeAction(http, opts, out);
    if (!action) return undefined;
    if (headers.authority && !action.host_rewrite_literal) action.host_rewrite_literal = headers.authority;
    out.route = action;
  }

  const perFilter: EnvoyJson = {};
  const fault = translateFault(http.fault);
  if (fault) perFilter[FAULT_FILTER] = fault;
  const cors = translateCors(http.corsPolicy);
  if (cors) perFilter[CORS_FILTER] = cors;
  if (Object.keys(perFilter).length) out.typed_per_filter_config = perFilter;
  out.decorator = { operation: operation(out, vs.metadata.name, opts.listenPort) };
  out.metadata = { filter_metadata: { istio: { config: `/apis/networking.istio.io/v1alpha3/namespaces/${vs.metadata.namespace}/virtual-service/${vs.metadata.name}` } } };
  return out;
}

/** Istio's applyRedirect. An unsupported redirectCode makes Envoy's default (301) apply. */
function translateRedirect(r: HTTPRedirect): EnvoyJson {
  const out: EnvoyJson = {};
  if (r.authority) out.host_redirect = r.authority;
  if (r.uri) out.path_redirect = r.uri;
  else if (r.prefixRewrite !== undefined) out.prefix_rewrite = r.prefixRewrite;
  if (r.scheme) out.scheme_redirect = r.scheme;
  if (r.port) out.port_redirect = r.port;
  // FROM_REQUEST_PORT leaves the port alone, which is what Envoy does when none is given.
  else if (r.derivePort === 'FROM_PROTOCOL_DEFAULT') out.port_redirect = r.scheme === 'https' ? 443 : 80;
  const codes: Record<number, string> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };
  out.response_code = codes[r.redirectCode ?? 301] ?? 'MOVED_PERMANENTLY';
  return out;
}

interface WeightedDestination {
  d: HTTPRouteDestination;
  cluster: string;
  weight: number;
}

/** The destinations that carry traffic (Istio's weight rule, src/api/weights.ts), with their clusters. */
function weightedDestinations(http: HTTPRoute, opts: RouteOptions): WeightedDestination[] {
  const services = pushIndex(opts.push).servicesByHost;
  return (carryingDestinations(http.route) ?? []).map(({ d, weight }) => {
    const svc = services.get(d.destination.host);
    return { d, cluster: outboundClusterName(destinationPort(d.destination, svc, opts.listenPort), d.destination.subset, d.destination.host), weight };
  });
}

/** RouteAction for forwarding routes; route-level header mutations of a single destination go to `out`. */
function routeAction(http: HTTPRoute, opts: RouteOptions, out: EnvoyJson): EnvoyJson | undefined {
  const dests = weightedDestinations(http, opts);
  if (dests.length === 0) return undefined;
  const action: EnvoyJson = {};
  let hash: EnvoyJson[] | undefined;
  if (dests.length === 1) {
    const only = dests[0]!;
    action.cluster = only.cluster;
    const h = translateHeaders(only.d.headers);
    appendMutations(out, h.mutations);
    if (h.authority) action.host_rewrite_literal = h.authority;
    const c = parseClusterName(only.cluster)!;
    hash = routeHashPolicy(opts.push, opts.proxy, c.host, c.subset, c.port);
  } else {
    action.weighted_clusters = {
      clusters: dests.map((w) => {
        const cw: EnvoyJson = { name: w.cluster, weight: w.weight };
        const h = translateHeaders(w.d.headers);
        Object.assign(cw, h.mutations);
        if (h.authority) cw.host_rewrite_literal = h.authority;
        if (!hash) {
          const c = parseClusterName(w.cluster)!;
          hash = routeHashPolicy(opts.push, opts.proxy, c.host, c.subset, c.port);
        }
        return cw;
      }),
    };
  }
  applyTimeout(action, http.timeout, opts.grpc);
  // Only a single hashed destination drops the previous_hosts predicate (Istio does the same:
  // weighted clusters and consistent hashing do not combine).
  const retry = translateRetryPolicy(http.retries ?? meshDefaultRetries(opts.push), dests.length === 1 && !!hash);
  if (retry) action.retry_policy = retry;
  if (hash) action.hash_policy = hash;

  const rw = http.rewrite;
  if (rw?.uriRegexRewrite) action.regex_rewrite = { pattern: { regex: rw.uriRegexRewrite.match }, substitution: rw.uriRegexRewrite.rewrite };
  else if (rw?.uri) action.prefix_rewrite = rw.uri;
  if (rw?.authority) action.host_rewrite_literal = rw.authority;

  const mirrors: EnvoyJson[] = [];
  const services = pushIndex(opts.push).servicesByHost;
  const mirrorCluster = (d: { host: string; subset?: string; port?: { number?: number } }) =>
    outboundClusterName(destinationPort(d, services.get(d.host), opts.listenPort), d.subset, d.host);
  if (http.mirror) {
    const f = mirrorFraction(http);
    if (f) mirrors.push({ cluster: mirrorCluster(http.mirror), runtime_fraction: f, trace_sampled: false });
  }
  for (const m of http.mirrors ?? []) {
    const f = mirrorPolicyFraction(m.percentage);
    if (f && m.destination) mirrors.push({ cluster: mirrorCluster(m.destination), runtime_fraction: f, trace_sampled: false });
  }
  if (mirrors.length) action.request_mirror_policies = mirrors;
  return action;
}
