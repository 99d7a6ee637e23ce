/**
 * One request/response exchange inside the connection manager (Envoy's ActiveStream): applies the
 * HCM's request header rules (x-request-id, x-forwarded-*, x-envoy-* sanitising, via), resolves
 * the route, runs the filter chain, enforces stream_idle_timeout / request_timeout, finalises
 * response headers (server, x-request-id) and local replies, and records StreamInfo and stats.
 */
import type { Duplex } from 'node:stream';
import { StreamIdleTimers } from './stream_idle_timers.ts';
import type { ConnectionInfo, HeaderMap, HttpFilter, StreamFilterCallbacks, StreamInfo, Timer } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { log } from '../../logger.ts';
import { createStreamInfo } from '../../stream_info.ts';
import type { HcmConfig } from './config.ts';
import type { ConnectionState, DownstreamCodecStream } from './codec.ts';
import { FilterManager } from './filter_manager.ts';
import { buildLocalReply, LocalReplyBody } from '../common/local_reply.ts';
import { appendHeader, getHeader, isGrpcRequest } from '../common/header_utils.ts';
import { uuidV4 } from '../common/request_id.ts';
import { ResponseFlag } from '../common/response_flags.ts';
import { trustedClientAddress } from './xff.ts';
import { isInternalAddress } from './internal_address.ts';
import { normalizeRequestPath } from './path_normalization.ts';
import { streamDurationMs } from './stream_duration.ts';
import { mutateXfcc } from './xfcc.ts';
import type { ClusterChoice, RouteEntry } from '../router/route_entry.ts';
import type { MatchInput } from '../router/route_match.ts';
import type { Random } from '../common/random.ts';
import { finishSpan, startSpan, type ActiveSpan } from '../../tracing/active_span.ts';
import { tapHook, tapStream } from '../../tap/tap_manager.ts';

export class ActiveStream extends FilterManager implements StreamFilterCallbacks {
  readonly streamInfo: StreamInfo;
  readonly connection: ConnectionInfo;
  readonly isGrpc: boolean;
  readonly isHead: boolean;
  upgradeType?: string;
  requestComplete = false;
  responseStarted = false;
  private responseComplete = false;
  private destroyed = false;
  /** The route is resolved once per stream (until clearRouteCache); fields, not an object per request. */
  private routeResolved = false;
  private resolvedRoute: RouteEntry | undefined = undefined;
  /** The cluster picked for the route (weighted clusters: once per resolution, as Envoy). */
  private resolvedChoice: ClusterChoice | undefined = undefined;
  /** stream_idle_timeout or the route's idle_timeout (0: none), watched by the connection's StreamIdleTimers. */
  idleMs = 0;
  lastActive = 0;
  idlePrev: ActiveStream | undefined = undefined;
  idleNext: ActiveStream | undefined = undefined;
  private requestTimer: Timer | undefined;
  private durationTimer: Timer | undefined;
  /** The stream's sampled span (HCM tracing), reported at destroy. */
  private span: ActiveSpan | undefined;
  /**
   * Some filter of this stream has encodeData / encodeTrailers (found when the response starts, so
   * a filter may take them on for one kind of request only, e.g. gRPC) or onStreamComplete; else
   * they cost nothing.
   */
  private observesEncode = false;
  private observesComplete = false;

  constructor(
    readonly hcm: HcmConfig,
    readonly conn: ConnectionState,
    private readonly codec: DownstreamCodecStream,
    info: ConnectionInfo,
    headers: HeaderMap,
  ) {
    super();
    this.connection = info;
    this.requestHeaders = headers;
    this.isGrpc = isGrpcRequest(headers);
    this.isHead = headers.get(':method') === 'HEAD';
    this.streamInfo = createStreamInfo(hcm.clock.now(), info, codec.protocol, headers);
    const s = hcm.stats;
    s.rqTotal.inc();
    (codec.protocol === 'HTTP/2' ? s.rqHttp2Total : s.rqHttp1Total).inc();
    s.rqActive.inc();
    hcm.ctx.trackActive(info);
  }

  /** Codec: request headers are complete. */
  decodeHeaders(endStream: boolean): void {
    this.requestComplete = endStream;
    // Path sanitising comes before anything reads the path (filters, routing), as in Envoy.
    if (this.hcm.pathOptions && !this.normalizePath()) return;
    this.mutateRequestHeaders();
    this.streamInfo.requestHeaders = this.requestHeaders;
    const hcm = this.hcm;
    // As Envoy: the route's idle_timeout, when set, replaces the HCM's stream_idle_timeout.
    const route = this.resolve();
    // After header mutation and routing (the decorator names the span), before any filter: the
    // context the router forwards is the child's.
    if (hcm.tracing) this.span = startSpan(hcm.tracing, this.requestHeaders, this.streamInfo, route?.decoratorOperation);
    const idleMs = route?.action?.idleTimeoutMs ?? hcm.streamIdleTimeoutMs;
    if (idleMs > 0) {
      this.idleMs = idleMs;
      this.lastActive = this.streamInfo.startTime;
      (this.conn.streamIdle ??= new StreamIdleTimers(hcm.clock)).add(this);
    }
    if (hcm.requestTimeoutMs > 0 && !endStream) this.requestTimer = hcm.clock.after(hcm.requestTimeoutMs, () => this.onRequestTimeout());
    const maxMs = streamDurationMs(route?.action?.streamDuration, this.requestHeaders);
    if (maxMs !== undefined) {
      // The cap counts from the stream's start, not from now.
      const left = Math.max(0, maxMs - (hcm.clock.now() - this.streamInfo.startTime));
      this.durationTimer = hcm.clock.after(left, () => this.onMaxDuration());
    }
    if (this.destroyed) return;
    if (this.upgradeType && route?.action && !this.upgradeAllowed(route.action.upgrades)) return;
    const factories = hcm.filterFactories;
    // Sized once: pushing onto an empty array allocates room for 16.
    const filters: HttpFilter[] = new Array(factories.length);
    for (let i = 0; i < factories.length; i++) {
      const f = (filters[i] = factories[i](this));
      if (f.onStreamComplete) this.observesComplete = true;
    }
    this.filters = filters;
    this.runDecodeHeaders(endStream);
  }

  /** Applies the HCM's path options; false when the stream was answered (400 or 307). */
  private normalizePath(): boolean {
    const h = this.requestHeaders;
    const path = getHeader(h, ':path');
    if (path === undefined) return true;
    const out = normalizeRequestPath(path, this.hcm.pathOptions!);
    const s = this.hcm.stats;
    if (out.action === 'reject') {
      s.rqFailedPathNormalization.inc();
      this.streamInfo.responseCodeDetails = 'path_normalization_failed';
      this.sendLocalReply(400, '', undefined, { grpcStatus: 13 });
      return false;
    }
    if (out.path !== path) h.set(':path', out.path);
    if (out.action === 'redirect') {
      s.rqRedirectedNormalizedPath.inc();
      this.streamInfo.responseCodeDetails = 'path_redirect';
      // gRPC clients cannot follow a redirect: they get INTERNAL, as in Envoy.
      this.sendLocalReply(307, '', { location: out.path }, { grpcStatus: 13 });
      return false;
    }
    return true;
  }

  /** An Upgrade (WebSocket) needs the route's or else the HCM's upgrade_configs to allow it; else 403, as Envoy. */
  private upgradeAllowed(routeUpgrades: Map<string, boolean>): boolean {
    const t = this.upgradeType!;
    if (routeUpgrades.get(t) ?? this.hcm.upgrades.get(t) ?? false) return true;
    this.hcm.stats.rqWsOnNonWsRoute.inc();
    this.streamInfo.responseCodeDetails = 'upgrade_failed';
    this.sendLocalReply(403, '');
    return false;
  }

  /** Codec: a request body chunk. */
  decodeData(chunk: Buffer, endStream: boolean): void {
    if (this.destroyed) return;
    this.streamInfo.bytesReceived += chunk.length;
    if (this.idleMs !== 0) this.lastActive = this.hcm.clock.now();
    if (endStream) this.onRequestComplete();
    this.runDecodeData(chunk, endStream);
  }

  /** Codec: request trailers (ends the request). */
  decodeTrailers(trailers: HeaderMap): void {
    if (this.destroyed) return;
    this.onRequestComplete();
    this.runDecodeTrailers(trailers);
  }

  private onRequestComplete(): void {
    this.requestComplete = true;
    if (this.requestTimer) this.requestTimer.cancel(), (this.requestTimer = undefined);
  }

  /** Codec: the client reset the stream or went away. */
  onCodecReset(): void {
    if (this.destroyed) return;
    if (!this.responseComplete) {
      this.hcm.stats.rqRxReset.inc();
      this.addResponseFlag(ResponseFlag.DownstreamConnectionTermination);
      for (const f of this.filters) f.onResetStream?.();
    }
    this.destroy();
  }

  /** Codec: the downstream drained after a false writeData. */
  onCodecDrain(): void {
    for (const f of this.filters) f.onBelowWriteBufferLowWatermark?.();
  }

  // ---------- StreamFilterCallbacks ----------

  route(): EnvoyJson | undefined {
    return this.resolve()?.config;
  }

  routeEntry(): RouteEntry | undefined {
    return this.resolve();
  }

  clusterChoice(): ClusterChoice | undefined {
    this.resolve();
    return this.resolvedChoice;
  }

  /** Envoy's precedence: weighted cluster, route, virtual host, route configuration. */
  perFilterConfig<T>(filterName: string): T | undefined {
    const route = this.resolve();
    return (this.resolvedChoice?.perFilterConfig.get(filterName) ?? route?.perFilterConfig(filterName)) as T | undefined;
  }

  /** The compiled route (and its cluster choice), resolved once per stream (until clearRouteCache). */
  private resolve(): RouteEntry | undefined {
    if (this.routeResolved) return this.resolvedRoute;
    this.routeResolved = true;
    this.resolvedRoute = this.resolvedChoice = undefined;
    const config = this.hcm.routeConfig();
    if (config) {
      const headers = this.requestHeaders;
      const full = getHeader(headers, ':path') ?? '/';
      const found = config.route(headers, new RouteInput(headers, full, this.hcm.random, this.streamInfo));
      const route = (this.resolvedRoute = found.route);
      const choice = (this.resolvedChoice = route?.action?.pickCluster(headers, this.hcm.random));
      this.streamInfo.routeName = route?.name;
      this.streamInfo.virtualHostName = found.vhost?.name;
      // Envoy records the route's cluster when the route resolves (refreshCachedRoute), so a fault
      // abort or a local reply still logs %UPSTREAM_CLUSTER%; only a cluster that exists counts.
      const cluster = choice?.name;
      if (cluster && this.hcm.ctx.clusterManager.get(cluster)) this.streamInfo.upstreamCluster = cluster;
    }
    return this.resolvedRoute;
  }

  clearRouteCache(): void {
    this.routeResolved = false;
  }

  addResponseFlag(flag: string): void {
    if (!this.streamInfo.responseFlags.includes(flag)) {
      this.streamInfo.responseFlags.push(flag);
      this.hcm.stats.flag(flag);
    }
  }

  sendLocalReply(status: number, body: string, headers?: Record<string, string>, details?: { grpcStatus?: number; responseFlag?: string }): void {
    if (this.destroyed) return;
    if (details?.responseFlag) this.addResponseFlag(details.responseFlag);
    this.stopDecoding();
    if (this.responseStarted) {
      // Headers already went out: the only honest thing left is to abort the stream.
      this.resetStream();
      return;
    }
    this.streamInfo.responseCodeDetails ??= 'local_reply';
    const reply = buildLocalReply(status, body, this.isGrpc, headers, details?.grpcStatus);
    const endStream = reply.body === undefined || this.isHead;
    this.encodeHeaders(reply.status, reply.headers, endStream);
    if (!endStream) this.encodeData(reply.body!, true);
  }

  encodeHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    if (this.destroyed || this.responseStarted) return;
    this.responseStarted = true;
    if (this.idleMs !== 0) this.lastActive = this.hcm.clock.now();
    this.runEncodeHeaders(status, headers, endStream);
    if (!endStream) this.observesEncode = this.filters.some((f) => f.encodeData !== undefined || f.encodeTrailers !== undefined);
    this.mutateResponseHeaders(headers);
    this.streamInfo.responseCode = status;
    this.streamInfo.responseHeaders = headers;
    try {
      this.codec.writeHeaders(status, headers, endStream);
    } catch (e) {
      // Invalid header from upstream or a filter: the data plane resets rather than throws.
      log.warnOnce(`hcm-write-headers:${(e as Error).message}`, `http: failed to write response headers: ${(e as Error).message}`);
      this.resetStream();
      return;
    }
    if (endStream) this.onResponseComplete();
  }

  encodeData(chunk: Buffer, endStream: boolean): boolean {
    if (this.destroyed) return true;
    this.streamInfo.bytesSent += chunk.length;
    if (this.idleMs !== 0) this.lastActive = this.hcm.clock.now();
    if (this.observesEncode) {
      const fs = this.filters;
      for (let i = fs.length - 1; i >= 0; i--) fs[i].encodeData?.(chunk, endStream);
    }
    const ok = this.codec.writeData(chunk, endStream);
    if (endStream) this.onResponseComplete();
    return ok;
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.destroyed) return;
    this.streamInfo.responseTrailers = trailers;
    if (this.observesEncode) {
      const fs = this.filters;
      for (let i = fs.length - 1; i >= 0; i--) fs[i].encodeTrailers?.(trailers);
    }
    this.codec.writeTrailers(trailers);
    this.onResponseComplete();
  }

  readDisable(disable: boolean): void {
    if (!this.destroyed) this.codec.readDisable(disable);
  }

  resetStream(): void {
    if (this.destroyed) return;
    this.hcm.stats.rqTxReset.inc();
    this.addResponseFlag(ResponseFlag.LocalReset);
    for (const f of this.filters) f.onResetStream?.();
    this.codec.reset();
    this.destroy();
  }

  upgrade(upstream: Duplex, status: number, headers: HeaderMap): void {
    if (this.destroyed || !this.codec.upgrade) {
      upstream.destroy();
      return;
    }
    this.responseStarted = true;
    this.runEncodeHeaders(status, headers, false);
    this.mutateResponseHeaders(headers);
    this.streamInfo.responseCode = status;
    this.codec.upgrade(upstream, status, headers);
    // The tunnel outlives HTTP: from here on it is bytes, and the stream is accounted as done.
    this.onResponseComplete();
  }

  protected onFilterError(e: Error): void {
    log.warnOnce(`hcm-filter-error:${e.message}`, `http filter threw: ${e.stack ?? e.message}`);
    this.sendLocalReply(500, 'internal error', undefined, { responseFlag: ResponseFlag.LocalReset });
  }

  // ---------- internals ----------

  private onResponseComplete(): void {
    this.responseComplete = true;
    this.destroy();
  }

  private destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.stopDecoding();
    if (this.idleMs !== 0) this.conn.streamIdle?.remove(this);
    this.requestTimer?.cancel();
    this.durationTimer?.cancel();
    for (const f of this.filters) f.onDestroy?.();
    const s = this.hcm.stats;
    s.rqActive.dec();
    if (this.responseComplete) {
      s.rqCompleted.inc();
      if (this.streamInfo.responseCode) s.responseClass(this.streamInfo.responseCode);
    }
    this.streamInfo.endTime = this.hcm.clock.now();
    this.hcm.ctx.releaseActive(this.connection);
    if (this.observesComplete) {
      // Envoy's onStreamComplete: StreamInfo is final, access logs have not run yet.
      for (const f of this.filters) {
        try {
          f.onStreamComplete?.();
        } catch (e) {
          log.warnOnce('hcm-filter-on-complete', `http filter onStreamComplete threw: ${(e as Error).message}`);
        }
      }
    }
    this.hcm.accessLog?.(this.streamInfo);
    // Live tap (tsmesh tap): one boolean read when nobody taps.
    if (tapHook.active) tapStream(this.streamInfo, this.hcm.ctx.trafficDirection);
    if (this.span) finishSpan(this.hcm.tracing!, this.span, this.streamInfo);
    const done = this.hcm.ctx.onStreamComplete;
    if (done) {
      try {
        done(this.streamInfo);
      } catch (e) {
        log.warnOnce('hcm-on-complete', `onStreamComplete threw: ${(e as Error).message}`);
      }
    }
  }

  /** StreamIdleTimers: no activity for idleMs. */
  onIdleTimeout(): void {
    this.hcm.stats.rqIdleTimeout.inc();
    this.streamInfo.responseCodeDetails = 'stream_idle_timeout';
    this.sendLocalReply(408, LocalReplyBody.streamIdleTimeout, undefined, { responseFlag: ResponseFlag.StreamIdleTimeout });
  }

  /** max_stream_duration reached: 408 before the response started, a reset after, as Envoy. */
  private onMaxDuration(): void {
    this.hcm.stats.rqMaxDurationReached.inc();
    this.streamInfo.responseCodeDetails = 'max_duration_timeout';
    this.sendLocalReply(408, LocalReplyBody.maxDurationTimeout, undefined, { grpcStatus: 4 });
  }

  private onRequestTimeout(): void {
    this.hcm.stats.rqTimeout.inc();
    this.streamInfo.responseCodeDetails = 'request_overall_timeout';
    this.sendLocalReply(408, LocalReplyBody.requestTimeout);
  }

  /** Envoy's ConnectionManagerUtility::mutateRequestHeaders, the parts tsmesh supports. */
  private mutateRequestHeaders(): void {
    const h = this.requestHeaders;
    const hcm = this.hcm;
    const info = this.connection;
    const remote = info.remoteAddress;
    if (!h.has(':scheme')) h.set(':scheme', this.conn.scheme);
    let external = false;
    // Before XFF is appended: the entries as they arrived decide whom to trust.
    const client = trustedClientAddress(h, remote, hcm.useRemoteAddress, hcm.xffNumTrustedHops);
    if (client !== remote) this.streamInfo.downstreamRemoteAddress = client;
    if (hcm.useRemoteAddress) {
      const internal = isInternalAddress(remote);
      external = !internal;
      if (!hcm.skipXffAppend) appendXff(h, remote);
      if (external && hcm.stripExternalEnvoyHeaders) {
        for (const k of [...h.keys()]) if (k.startsWith('x-envoy-')) h.delete(k);
        h.set('x-envoy-external-address', remote);
      } else if (internal) {
        h.set('x-envoy-internal', 'true');
      }
      // At the edge the proxy knows the transport: x-forwarded-proto is ours unless hops are trusted.
      if (hcm.xffNumTrustedHops === 0 || !h.has('x-forwarded-proto')) h.set('x-forwarded-proto', this.conn.scheme);
    } else if (!h.has('x-forwarded-proto')) {
      h.set('x-forwarded-proto', this.conn.scheme);
    }
    if (hcm.generateRequestId) {
      const id = getHeader(h, 'x-request-id');
      if (!id || (external && !hcm.preserveExternalRequestId)) h.set('x-request-id', uuidV4());
    }
    this.streamInfo.requestId = getHeader(h, 'x-request-id');
    mutateXfcc(h, hcm.xfcc, this.conn.ssl);
    if (hcm.via) appendHeader(h, 'via', hcm.via);
  }

  /** Envoy's mutateResponseHeaders + server header handling. */
  private mutateResponseHeaders(h: HeaderMap): void {
    const hcm = this.hcm;
    switch (hcm.serverHeaderTransformation) {
      case 'OVERWRITE':
        h.set('server', hcm.serverName);
        break;
      case 'APPEND_IF_ABSENT':
        if (!h.has('server')) h.set('server', hcm.serverName);
        break;
    }
    if (hcm.alwaysSetRequestIdInResponse && this.streamInfo.requestId) h.set('x-request-id', this.streamInfo.requestId);
    if (hcm.via) appendHeader(h, 'via', hcm.via);
    if (this.conn.closeAfterResponse || hcm.ctx.draining()) {
      if (this.codec.protocol !== 'HTTP/2') h.set('connection', 'close');
      this.conn.closeAfterResponse = true;
    }
  }
}

/** What route predicates see; the query string is parsed only if a query matcher asks. */
class RouteInput implements MatchInput {
  readonly path: string;
  private readonly q: number;
  private parsed: URLSearchParams | undefined;
  constructor(
    readonly headers: HeaderMap,
    private readonly full: string,
    readonly random: Random,
    private readonly info: StreamInfo,
  ) {
    const q = full.indexOf('?');
    this.q = q;
    this.path = q < 0 ? full : full.slice(0, q);
  }
  query(): URLSearchParams {
    return (this.parsed ??= new URLSearchParams(this.q < 0 ? '' : this.full.slice(this.q + 1)));
  }
  /** jwt_authn's results, for routes matching on claims (it clears the route cache after writing). */
  metadata(): ReadonlyMap<string, Record<string, unknown>> | undefined {
    return this.info.dynamicMetadata;
  }
}

function appendXff(h: HeaderMap, remote: string): void {
  const cur = getHeader(h, 'x-forwarded-for');
  h.set('x-forwarded-for', cur ? `${cur},${remote}` : remote);
}
