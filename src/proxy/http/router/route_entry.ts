/**
 * One Route compiled: its match predicate, the action (route / redirect / direct_response) with
 * everything the router needs per request precomputed (cluster choice, rewrites, timeouts,
 * retry, mirrors, hash policies, header parsers), and per-filter config lookup that falls back
 * from route to virtual host to route configuration as Envoy's does.
 */
import { readFileSync } from 'node:fs';
import type { HeaderMap } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { compileRouteMatch, type RoutePredicate } from './route_match.ts';
import { compileHeaderParser, type HeaderParser } from './header_parser.ts';
import { compileRetryPolicy, type RetryPolicy } from './retry_policy.ts';
import { compileRegexRewrite, type RegexRewrite } from '../common/regex.ts';
import { compileHashPolicy, type HashPolicy } from './hash_policy.ts';
import { compilePerFilterConfigs } from '../filters/registry.ts';
import { runtimeFractionToProbability, type Random } from '../common/random.ts';
import { durationMs } from '../../duration.ts';
import { getHeader } from '../common/header_utils.ts';
import { compileRedirect, type Redirect } from './redirect.ts';

/** Envoy's default route timeout. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

export interface ClusterChoice {
  name: string | undefined;
  requestHeaders: HeaderParser;
  responseHeaders: HeaderParser;
  hostRewriteLiteral?: string;
  /** The weighted cluster's typed_per_filter_config, compiled; it wins over the route's. */
  perFilterConfig: ReadonlyMap<string, unknown>;
}

export interface MirrorPolicy {
  cluster: string;
  probability: number;
}

export interface RouteAction {
  pickCluster(headers: HeaderMap, random: Random): ClusterChoice;
  clusterNotFoundCode: number;
  prefixRewrite?: string;
  regexRewrite?: RegexRewrite;
  hostRewriteLiteral?: string;
  autoHostRewrite: boolean;
  hostRewriteHeader?: string;
  /** 0 disables the route timeout. */
  timeoutMs: number;
  idleTimeoutMs?: number;
  /** max_grpc_timeout (the router's timeout): undefined: grpc-timeout ignored; 0: grpc-timeout honoured uncapped. */
  maxGrpcTimeoutMs?: number;
  grpcTimeoutOffsetMs: number;
  /** max_stream_duration, enforced by the connection manager from the stream's start (undefined: not set). */
  streamDuration?: StreamDuration;
  retry?: RetryPolicy;
  mirrors: MirrorPolicy[];
  hashPolicy: HashPolicy;
  /** upgrade_type (lower case) -> enabled, overriding the HCM's upgrade_configs. */
  upgrades: Map<string, boolean>;
}

/** RouteAction.MaxStreamDuration, in ms. */
export interface StreamDuration {
  /** The cap; 0 explicitly disables it; undefined: none. */
  maxMs?: number;
  /** grpc_timeout_header_max: when set, a grpc-timeout header replaces the cap, limited to this (0: unlimited). */
  grpcHeaderMaxMs?: number;
  grpcHeaderOffsetMs: number;
}

export interface DirectResponse {
  status: number;
  body: Buffer | undefined;
}

export interface VirtualHostLike {
  name: string;
  config: EnvoyJson;
  retry?: RetryPolicy;
  requestHeaders: HeaderParser;
  responseHeaders: HeaderParser;
  routeConfig: { config: EnvoyJson; requestHeaders: HeaderParser; responseHeaders: HeaderParser; mostSpecificWins: boolean };
}

export interface RouteEntry {
  name: string;
  config: EnvoyJson;
  vhost: VirtualHostLike;
  matches: RoutePredicate;
  /** The literal matched prefix/path, for prefix_rewrite. */
  matchedPrefix?: string;
  action?: RouteAction;
  redirect?: Redirect;
  directResponse?: DirectResponse;
  requestHeaders: HeaderParser;
  responseHeaders: HeaderParser;
  decoratorOperation?: string;
  /** typed_per_filter_config by filter name, compiled by the filter, most specific level first. */
  perFilterConfig(filterName: string): unknown;
}

function compileClusterChoice(c: EnvoyJson, name: string | undefined, path = ''): ClusterChoice {
  return {
    name,
    requestHeaders: compileHeaderParser(c.request_headers_to_add, c.request_headers_to_remove),
    responseHeaders: compileHeaderParser(c.response_headers_to_add, c.response_headers_to_remove),
    hostRewriteLiteral: c.host_rewrite_literal,
    perFilterConfig: compilePerFilterConfigs(c.typed_per_filter_config, `${path}.typed_per_filter_config`),
  };
}

const NOT_FOUND_CODES: Record<string, number> = { SERVICE_UNAVAILABLE: 503, NOT_FOUND: 404, INTERNAL_SERVER_ERROR: 500 };

function compilePicker(a: EnvoyJson): (headers: HeaderMap, random: Random) => ClusterChoice {
  if (a.cluster !== undefined) {
    const c = compileClusterChoice({}, String(a.cluster));
    return () => c;
  }
  if (a.cluster_header !== undefined) {
    const h = String(a.cluster_header).toLowerCase();
    const empty = compileClusterChoice({}, undefined);
    return (headers) => {
      const name = getHeader(headers, h);
      return name ? { ...empty, name } : empty;
    };
  }
  if (a.weighted_clusters !== undefined) {
    const list = (a.weighted_clusters.clusters ?? []) as EnvoyJson[];
    const choices = list.map((c, i) => compileClusterChoice(c, c.name, `route.weighted_clusters.clusters[${i}]`));
    const weights = list.map((c) => Number(c.weight ?? 0));
    const total = weights.reduce((x, y) => x + y, 0);
    if (choices.length === 0 || total <= 0) throw new Error('weighted_clusters needs clusters with a positive total weight');
    const headerName: string | undefined = a.weighted_clusters.header_name?.toLowerCase();
    return (headers, random) => {
      let r: number;
      const hv = headerName ? getHeader(headers, headerName) : undefined;
      r = hv !== undefined && /^\d+$/.test(hv) ? Number(hv) % total : Math.floor(random() * total);
      for (let i = 0; i < choices.length; i++) {
        if (r < weights[i]) return choices[i];
        r -= weights[i];
      }
      return choices[choices.length - 1];
    };
  }
  throw new Error('route action needs one of cluster, cluster_header, weighted_clusters');
}

function compileAction(a: EnvoyJson): RouteAction {
  const upgrades = new Map<string, boolean>();
  for (const u of a.upgrade_configs ?? []) upgrades.set(String(u.upgrade_type).toLowerCase(), u.enabled !== false);
  const msd = a.max_stream_duration;
  const timeoutMs = durationMs(a.timeout);
  return {
    pickCluster: compilePicker(a),
    clusterNotFoundCode: NOT_FOUND_CODES[a.cluster_not_found_response_code ?? 'SERVICE_UNAVAILABLE'] ?? 503,
    prefixRewrite: a.prefix_rewrite,
    regexRewrite: a.regex_rewrite ? compileRegexRewrite(a.regex_rewrite, 'route.regex_rewrite') : undefined,
    hostRewriteLiteral: a.host_rewrite_literal,
    autoHostRewrite: a.auto_host_rewrite === true,
    hostRewriteHeader: a.host_rewrite_header?.toLowerCase(),
    timeoutMs: timeoutMs ?? DEFAULT_ROUTE_TIMEOUT_MS,
    idleTimeoutMs: durationMs(a.idle_timeout),
    maxGrpcTimeoutMs: durationMs(a.max_grpc_timeout),
    grpcTimeoutOffsetMs: durationMs(a.grpc_timeout_offset) ?? 0,
    streamDuration: msd
      ? { maxMs: durationMs(msd.max_stream_duration), grpcHeaderMaxMs: durationMs(msd.grpc_timeout_header_max), grpcHeaderOffsetMs: durationMs(msd.grpc_timeout_header_offset) ?? 0 }
      : undefined,
    retry: compileRetryPolicy(a.retry_policy),
    mirrors: [...(a.request_mirror_policies ?? []), ...(a.request_mirror_policy ? [a.request_mirror_policy] : [])].map((m: EnvoyJson) => ({
      cluster: String(m.cluster),
      probability: runtimeFractionToProbability(m.runtime_fraction, 1),
    })),
    hashPolicy: compileHashPolicy(a.hash_policy ?? [], 'route.hash_policy'),
    upgrades,
  };
}

function compileDirect(d: EnvoyJson): DirectResponse {
  const status = Number(d.status);
  if (!(status >= 200 && status < 600)) throw new Error(`direct_response status ${d.status} out of range [200, 600)`);
  let body: Buffer | undefined;
  const b = d.body;
  if (b?.inline_string !== undefined) body = Buffer.from(String(b.inline_string));
  else if (b?.inline_bytes !== undefined) body = Buffer.from(String(b.inline_bytes), 'base64');
  else if (b?.filename !== undefined) body = readFileSync(String(b.filename));
  else if (b?.environment_variable !== undefined) body = Buffer.from(process.env[String(b.environment_variable)] ?? '');
  return { status, body };
}

function perFilterLookup(levels: ReadonlyMap<string, unknown>[]): (filterName: string) => unknown {
  return (filterName) => {
    for (const l of levels) {
      const v = l.get(filterName);
      if (v !== undefined) return v;
    }
    return undefined;
  };
}

export function compileRoute(r: EnvoyJson, vhost: VirtualHostLike, index: number): RouteEntry {
  const match = r.match ?? {};
  const entry: RouteEntry = {
    name: r.name ?? `${vhost.name}/${index}`,
    config: r,
    vhost,
    matches: compileRouteMatch(match),
    matchedPrefix: match.prefix ?? match.path ?? match.path_separated_prefix,
    requestHeaders: compileHeaderParser(r.request_headers_to_add, r.request_headers_to_remove),
    responseHeaders: compileHeaderParser(r.response_headers_to_add, r.response_headers_to_remove),
    decoratorOperation: r.decorator?.operation,
    perFilterConfig: perFilterLookup([
      compilePerFilterConfigs(r.typed_per_filter_config, `route ${r.name ?? `${vhost.name}/${index}`}.typed_per_filter_config`),
      compilePerFilterConfigs(vhost.config.typed_per_filter_config, `virtual_host ${vhost.name}.typed_per_filter_config`),
      compilePerFilterConfigs(vhost.routeConfig.config.typed_per_filter_config, 'typed_per_filter_config'),
    ]),
  };
  if (r.route !== undefined) entry.action = compileAction(r.route);
  else if (r.redirect !== undefined) entry.redirect = compileRedirect(r.redirect, match);
  else if (r.direct_response !== undefined) entry.directResponse = compileDirect(r.direct_response);
  else if (r.non_forwarding_action === undefined) throw new Error(`route ${entry.name} needs one of route, redirect, direct_response`);
  return entry;
}
