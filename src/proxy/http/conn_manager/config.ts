/**
 * HttpConnectionManager config, validated and compiled once per listener filter chain: codec
 * limits and timeouts with Envoy's defaults, header-handling switches, the route source (inline
 * or RDS) and the HTTP filter chain. Also holds the preallocated http.<stat_prefix>.* stats.
 */
import type { Clock, FactoryContext, HttpFilter, HttpFilterFactoryContext, StreamFilterCallbacks } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import type { Random } from '../common/random.ts';
import { durationMs } from '../../duration.ts';
import { resolveHttpFilter } from '../filters/registry.ts';
import { compileRouteConfig, type CompiledRouteConfig } from '../router/route_config.ts';
import { HcmStats } from './stats.ts';
import { compileAccessLogs, type AccessLogger } from '../common/access_log.ts';
import { compileXfcc, type XfccConfig } from './xfcc.ts';
import { ESCAPED_SLASHES_ACTIONS, pathUntouched, type EscapedSlashesAction, type PathOptions } from './path_normalization.ts';
import { systemClock } from '../../../common/clock.ts';
import { compileHcmTracing, type HcmTracing } from '../../tracing/hcm_tracing.ts';

/** nginx's client_header_timeout: how long a client may take to send request headers when the HCM sets no request_headers_timeout. */
export const DEFAULT_REQUEST_HEADERS_TIMEOUT_MS = 60_000;
/** Envoy's stream_idle_timeout default. */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;

export type CodecType = 'AUTO' | 'HTTP1' | 'HTTP2';
export type ServerHeaderTransformation = 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';

export interface HcmConfig {
  statPrefix: string;
  codecType: CodecType;
  filterFactories: ((cb: StreamFilterCallbacks) => HttpFilter)[];
  /** Returns the current compiled route config, or undefined (RDS not yet arrived → 404 NR). */
  routeConfig(): CompiledRouteConfig | undefined;
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  skipXffAppend: boolean;
  serverName: string;
  serverHeaderTransformation: ServerHeaderTransformation;
  generateRequestId: boolean;
  preserveExternalRequestId: boolean;
  alwaysSetRequestIdInResponse: boolean;
  via?: string;
  /** Remove x-envoy-* request headers from external (untrusted) clients. */
  stripExternalEnvoyHeaders: boolean;
  /** 0 disables. Also bounds how long request headers may take to arrive, as in Envoy. */
  streamIdleTimeoutMs: number;
  requestTimeoutMs: number;
  /** From the first byte of a request to its last header byte; 0 disables. */
  requestHeadersTimeoutMs: number;
  /** What bounds header reception: the smaller of requestHeadersTimeoutMs and streamIdleTimeoutMs (0: nothing). */
  headerDeadlineMs: number;
  idleTimeoutMs: number;
  drainTimeoutMs: number;
  maxRequestHeadersBytes: number;
  maxHeadersCount: number;
  maxConcurrentStreams: number;
  /** RST_STREAMs tolerated per connection per window before GOAWAY (HTTP/2 rapid reset). */
  maxResetsPerWindow: number;
  resetWindowMs: number;
  upgrades: Map<string, boolean>;
  /** normalize_path, merge_slashes, path_with_escaped_slashes_action; undefined when all are off. */
  pathOptions?: PathOptions;
  /** forward_client_cert_details and set_current_client_cert_details. */
  xfcc: XfccConfig;
  /** access_log: one line per finished stream. */
  accessLog?: AccessLogger;
  /** tracing: absent when the HCM has none (then the stream does no tracing work at all). */
  tracing?: HcmTracing;
  random: Random;
  clock: Clock;
  stats: HcmStats;
  ctx: FactoryContext;
}

/** The smallest of the timeouts that are on (> 0), or 0 when none is. */
function smallestEnabled(...ms: number[]): number {
  const on = ms.filter((m) => m > 0);
  return on.length ? Math.min(...on) : 0;
}

const SERVER_XFORM = new Set(['OVERWRITE', 'APPEND_IF_ABSENT', 'PASS_THROUGH']);

/** Validates and compiles an HttpConnectionManager; throws with a field-naming message to NACK. */
export function compileHcmConfig(c: EnvoyJson, ctx: FactoryContext): HcmConfig {
  const statPrefix = c.stat_prefix;
  if (typeof statPrefix !== 'string') throw new Error('HttpConnectionManager.stat_prefix is required');
  const codecType = (c.codec_type ?? 'AUTO') as CodecType;
  if (!['AUTO', 'HTTP1', 'HTTP2'].includes(codecType)) throw new Error(`HttpConnectionManager.codec_type ${codecType} is not supported`);

  let routeConfig: () => CompiledRouteConfig | undefined;
  if (c.route_config !== undefined) {
    const compiled = compileRouteConfig(c.route_config);
    routeConfig = () => compiled;
  } else if (c.rds !== undefined) {
    const name = String(c.rds.route_config_name ?? '');
    if (!name) throw new Error('HttpConnectionManager.rds.route_config_name is required');
    routeConfig = () => {
      const rc = ctx.routes.get(name);
      if (!rc) return undefined;
      try {
        return compileRouteConfig(rc);
      } catch {
        // RDS validation belongs to the provider; a config that fails here acts as absent.
        return undefined;
      }
    };
  } else {
    throw new Error('HttpConnectionManager needs route_config or rds');
  }

  const random = ctx.random ?? Math.random;
  const clock = ctx.clock ?? systemClock;
  const filterCtx: HttpFilterFactoryContext = { ...ctx, statPrefix: `http.${statPrefix}.`, random, clock };
  const filterFactories: HcmConfig['filterFactories'] = [];
  const filters = (c.http_filters ?? []) as EnvoyJson[];
  filters.forEach((f, i) => {
    try {
      const r = resolveHttpFilter(f);
      if (r) filterFactories.push(r.factory.create(r.config, filterCtx));
    } catch (e) {
      throw Object.assign(new Error(`HttpConnectionManager.http_filters[${i}] (${f.name}): ${(e as Error).message}`, { cause: e }), { code: (e as { code?: string }).code });
    }
  });
  if (filterFactories.length === 0) throw new Error('HttpConnectionManager.http_filters must end with envoy.filters.http.router');

  const xform = c.server_header_transformation ?? 'OVERWRITE';
  if (!SERVER_XFORM.has(xform)) throw new Error(`HttpConnectionManager.server_header_transformation ${xform} is not supported`);

  const upgrades = new Map<string, boolean>();
  for (const u of c.upgrade_configs ?? []) upgrades.set(String(u.upgrade_type).toLowerCase(), u.enabled !== false);

  const escaped = c.path_with_escaped_slashes_action ?? 'IMPLEMENTATION_SPECIFIC_DEFAULT';
  if (!ESCAPED_SLASHES_ACTIONS.has(escaped)) throw new Error(`HttpConnectionManager.path_with_escaped_slashes_action ${escaped} is not supported`);
  // Envoy's implementation-specific default is KEEP_UNCHANGED.
  const pathOptions: PathOptions = {
    normalizePath: c.normalize_path === true,
    mergeSlashes: c.merge_slashes === true,
    escapedSlashes: (escaped === 'IMPLEMENTATION_SPECIFIC_DEFAULT' ? 'KEEP_UNCHANGED' : escaped) as EscapedSlashesAction,
  };

  const streamIdleTimeoutMs = durationMs(c.stream_idle_timeout) ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS;
  // Envoy leaves request_headers_timeout off by default; tsmesh bounds slow-header clients as nginx does (issue 7).
  const requestHeadersTimeoutMs = durationMs(c.request_headers_timeout) ?? DEFAULT_REQUEST_HEADERS_TIMEOUT_MS;
  const h2 = c.http2_protocol_options ?? {};
  const common = c.common_http_protocol_options ?? {};
  return {
    statPrefix,
    codecType,
    filterFactories,
    routeConfig,
    useRemoteAddress: c.use_remote_address === true,
    xffNumTrustedHops: Number(c.xff_num_trusted_hops ?? 0),
    skipXffAppend: c.skip_xff_append === true,
    serverName: c.server_name || 'envoy',
    serverHeaderTransformation: xform,
    generateRequestId: c.generate_request_id !== false,
    preserveExternalRequestId: c.preserve_external_request_id === true,
    alwaysSetRequestIdInResponse: c.always_set_request_id_in_response === true,
    via: c.via || undefined,
    stripExternalEnvoyHeaders: c.use_remote_address === true,
    streamIdleTimeoutMs,
    requestTimeoutMs: durationMs(c.request_timeout) ?? 0,
    requestHeadersTimeoutMs,
    headerDeadlineMs: smallestEnabled(requestHeadersTimeoutMs, streamIdleTimeoutMs),
    idleTimeoutMs: durationMs(common.idle_timeout) ?? 3_600_000,
    drainTimeoutMs: durationMs(c.drain_timeout) ?? 5_000,
    maxRequestHeadersBytes: Number(c.max_request_headers_kb ?? 60) * 1024,
    maxHeadersCount: Number(common.max_headers_count ?? 100),
    maxConcurrentStreams: Number(h2.max_concurrent_streams ?? 2147483647),
    maxResetsPerWindow: 200,
    resetWindowMs: 1_000,
    upgrades,
    pathOptions: pathUntouched(pathOptions) ? undefined : pathOptions,
    accessLog: compileAccessLogs(c.access_log, 'HttpConnectionManager'),
    tracing: compileHcmTracing(c.tracing, ctx, statPrefix, clock, c.request_id_extension, random),
    xfcc: compileXfcc(c),
    random,
    clock,
    stats: new HcmStats(ctx.stats, statPrefix),
    ctx,
  };
}
