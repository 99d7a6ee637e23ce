/**
 * envoy.filters.http.router, the terminal filter: picks the cluster, finalises upstream headers
 * (rewrites, header mutations, x-envoy-*), enforces the route / per-try timeouts and circuit
 * breakers, retries per the retry policy with back-off, mirrors, and streams both bodies through
 * the cluster's HTTP/1.1 or HTTP/2 pool with backpressure. Failures become Envoy's local replies and response flags.
 */
import type { Duplex } from 'node:stream';
import { FilterStatus, type HeaderMap, type HttpFilter, type HttpFilterFactory, type StreamFilterCallbacks } from '../../interfaces.ts';
import { getHeader, isGrpcRequest, toFlatList } from '../common/header_utils.ts';
import { LocalReplyBody } from '../common/local_reply.ts';
import { grpcToHttpStatus } from '../common/grpc_status.ts';
import { ResponseFlag } from '../common/response_flags.ts';
import { chance } from '../common/random.ts';
import type { FormatContext } from '../common/formatter.ts';
import { clusterStats } from './cluster_stats.ts';
import { computeHashKey } from './hash_policy.ts';
import { applyRequestHeaders, applyResponseHeaders, sendDirectResponse, sendNoRoute, sendRedirect } from './local_routes.ts';
import { rewritePrefix, rewriteRegex, splitPath } from './redirect.ts';
import type { ClusterChoice, RouteAction, RouteEntry } from './route_entry.ts';
import { RetryState, type ResetReason } from './retry_state.ts';
import { sendShadow } from './shadow_writer.ts';
import { computeTimeouts, type Timeouts } from './timeouts.ts';
import { priorityOf, selectHost } from './host_selection.ts';
import { connectionDestination } from '../../upstream/original_dst_cluster.ts';
import { BodySource, UpstreamRequest, type UpstreamRequestOwner } from './upstream_request.ts';
import { NO_CHUNKS, RouterState, type RouterContext } from './router_state.ts';
import type { Http1RequestOptions } from '../../upstream/http1/types.ts';
import { IdleDeadline } from '../../../common/idle_deadline.ts';
import { hostStatsOf } from '../../upstream/host_stats.ts';
import type { UpstreamHost } from '../../interfaces.ts';

const EMPTY = Buffer.alloc(0);
/** Envoy's per_connection_buffer_limit_bytes default: beyond this a body is not kept for retries/shadows. */
const BUFFER_LIMIT = 1024 * 1024;

/**
 * A timeout ended an attempt: the host's rq_timeout if the attempt reached it (not while queued
 * in the pool), and an error if no response had begun.
 */
function hostTimedOut(u: UpstreamRequest): void {
  if (!u.connected) return;
  const hs = hostStatsOf(u.host);
  hs.rqTimeout++;
  if (!u.headersReceived) hs.rqError++;
}

/** A response's outcome for the host: 5xx is an error (Envoy's rq_error), anything else a success. */
function hostOutcome(h: UpstreamHost, status: number): void {
  const hs = hostStatsOf(h);
  if (status >= 500) hs.rqError++;
  else hs.rqSuccess++;
}

export class Router extends RouterState implements HttpFilter, UpstreamRequestOwner {
  constructor(s: StreamFilterCallbacks, ctx: RouterContext) {
    super(s, ctx);
  }

  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterStatus {
    const s = this.s;
    const ctx = this.ctx;
    this.requestHeaders = headers;
    this.isGrpc = isGrpcRequest(headers);
    this.isHead = headers.get(':method') === 'HEAD';
    // Route idle_timeout and upgrade admission are the connection manager's (as in Envoy).
    const route = s.routeEntry();
    if (!route) return sendNoRoute(s, ctx), FilterStatus.StopIteration;
    if (route.directResponse) return sendDirectResponse(s, ctx, route, headers), FilterStatus.StopIteration;
    if (route.redirect) return sendRedirect(s, ctx, route, headers), FilterStatus.StopIteration;
    const action = route.action;
    if (!action) return sendNoRoute(s, ctx), FilterStatus.StopIteration;
    this.route = route;
    this.action = action;
    const choice = s.clusterChoice?.() ?? action.pickCluster(headers, ctx.random);
    this.choice = choice;
    const cluster = choice.name ? this.ctx.clusterManager.get(choice.name) : undefined;
    if (!cluster) {
      ctx.noCluster.inc();
      s.streamInfo.responseCodeDetails = 'cluster_not_found';
      s.sendLocalReply(action.clusterNotFoundCode, '', undefined, { responseFlag: ResponseFlag.NoClusterFound });
      return FilterStatus.StopIteration;
    }
    this.cluster = cluster;
    this.cstats = clusterStats(cluster);
    s.streamInfo.upstreamCluster = cluster.name;
    this.retry = new RetryState(action.retry ?? route.vhost.retry, headers);
    this.timeouts = computeTimeouts(action, headers, this.isGrpc, this.retry.policy?.perTryTimeoutMs ?? 0);
    this.finalizeRequestHeaders(headers, route, action, choice, this.timeouts);
    this.requestComplete = endStream;
    this.keepBody = !endStream && (this.retry.enabled || action.mirrors.length > 0);
    this.hashKey = action.hashPolicy.length ? computeHashKey(action.hashPolicy, headers, s.connection) : undefined;

    this.releaseRequest = cluster.tryAcquire('requests');
    if (!this.releaseRequest) {
      // The circuit breaker counted upstream_rq_pending_overflow.
      s.streamInfo.responseCodeDetails = 'upstream_reset_before_response_started{overflow}';
      s.sendLocalReply(503, LocalReplyBody.overflow, { 'x-envoy-overloaded': 'true' }, { responseFlag: ResponseFlag.UpstreamOverflow });
      return FilterStatus.StopIteration;
    }
    for (const m of action.mirrors) if (chance(m.probability, ctx.random)) (this.pendingMirrors ??= []).push(m.cluster);
    this.startAttempt();
    // After the main attempt is dispatched, so neither timers nor shadows can delay it.
    if (endStream) this.onRequestComplete();
    return FilterStatus.StopIteration;
  }

  decodeData(chunk: Buffer, endStream: boolean): FilterStatus {
    if (this.keepBody) {
      this.bufferedBytes += chunk.length;
      if (this.bufferedBytes > BUFFER_LIMIT) {
        // Too big to replay: no retries or shadows with this body (Envoy does the same).
        this.keepBody = false;
        this.buffered = NO_CHUNKS;
        this.retry.take = () => false;
        this.pendingMirrors = undefined;
      } else if (chunk.length) {
        if (this.buffered === NO_CHUNKS) this.buffered = [];
        this.buffered.push(chunk);
      }
    }
    const u = this.upstream;
    if (u?.body && !u.aborted) {
      if (chunk.length && !u.body.push(chunk)) this.s.readDisable(true);
      if (endStream) u.body.push(null);
    }
    if (endStream) this.onRequestComplete();
    return FilterStatus.StopIteration;
  }

  decodeTrailers(): FilterStatus {
    // Request trailers are not forwarded; the body ends here (gRPC clients do not send them).
    return this.decodeData(EMPTY, true);
  }

  onBodyPull(): void {
    this.s.readDisable(false);
  }

  private onRequestComplete(): void {
    this.requestComplete = true;
    const t = this.timeouts.globalMs;
    if (t > 0 && !this.globalTimer && !this.finished) this.globalTimer = this.ctx.clock.after(t, () => this.onGlobalTimeout());
    if (this.upstream?.connected && !this.upstream.done) this.armPerTryTimers(this.upstream);
    if (this.pendingMirrors) this.sendMirrors();
    if (this.retryWhenComplete) {
      this.retryWhenComplete = false;
      this.startAttempt();
    }
  }

  private sendMirrors(): void {
    const mirrors = this.pendingMirrors!;
    this.pendingMirrors = undefined;
    const body = this.buffered.length ? Buffer.concat(this.buffered) : null;
    for (const name of mirrors) {
      sendShadow(this.ctx.clusterManager, name, this.method, this.path, this.upstreamHeaders, body, this.timeouts.globalMs, this.ctx.clock);
    }
  }

  // ---------- attempts ----------

  startAttempt(): void {
    const s = this.s;
    const cluster = this.cluster!;
    const policy = this.retry.policy;
    // The hosts tried so far (previous_hosts, priority retries), made at the first retry: most requests never retry.
    if (this.attempts > 0 && policy && !this.history) {
      const prev = s.streamInfo.upstreamHost!;
      this.history = { hosts: new Set([prev]), priorities: policy.priorityUpdateFrequency > 0 ? [priorityOf(cluster, prev)] : [] };
    }
    // ORIGINAL_DST clusters (Istio's PASSTHROUGH) pick the downstream connection's original destination.
    const host = selectHost(cluster, policy, this.history, { hashKey: this.hashKey, authority: this.authority, originalDestination: cluster.config.type === 'ORIGINAL_DST' ? connectionDestination(s.connection) : undefined });
    if (!host) {
      s.streamInfo.responseCodeDetails = 'no_healthy_upstream';
      this.finish();
      s.sendLocalReply(503, LocalReplyBody.noHealthyUpstream, undefined, { responseFlag: ResponseFlag.NoHealthyUpstream });
      return;
    }
    this.attempts++;
    s.streamInfo.attemptCount = this.attempts;
    s.streamInfo.upstreamHost = host;
    const history = this.history;
    if (history) {
      history.hosts.add(host);
      if (policy!.priorityUpdateFrequency > 0) history.priorities.push(priorityOf(cluster, host));
    }
    if (this.includeAttemptCount) this.setUpstreamHeader('x-envoy-attempt-count', String(this.attempts));
    if (this.autoHost) this.setUpstreamHeader('host', host.address);
    const u = new UpstreamRequest(this, host, this.attempts, this.ctx.clock.now());
    if (this.attempts > 1) u.releaseRetry = this.retryRelease;
    this.retryRelease = undefined;
    this.upstream = u;
    let body: Buffer | BodySource | null = null;
    if (this.requestComplete) {
      body = this.buffered.length ? (this.buffered.length === 1 ? this.buffered[0] : Buffer.concat(this.buffered)) : null;
    } else {
      body = u.body = new BodySource(this);
      // Chunks that arrived before this attempt (e.g. during a fault delay) go first.
      for (const c of this.buffered) u.body.push(c);
    }
    this.cstats!.rqTotal.inc();
    this.cstats!.rqActive.inc();
    this.upstreamActive = true;
    const opts: Http1RequestOptions = { method: this.method, path: this.path, headers: this.upstreamHeaders, body, upgrade: s.upgradeType };
    try {
      const pool = (u.pool = cluster.httpPool(host, s.streamInfo.protocol));
      pool.dispatch(opts, u);
    } catch (e) {
      this.onUpstreamReset(u, 'connection failure', e as Error);
    }
  }

  /**
   * As Envoy, both per-try timeouts start once the request is complete and the attempt has a
   * connection (connecting is connect_timeout's business).
   */
  private armPerTryTimers(u: UpstreamRequest): void {
    if (!this.requestComplete) return;
    if (this.timeouts.perTryMs > 0 && !u.perTryTimer && !u.headersReceived) u.perTryTimer = this.ctx.clock.after(this.timeouts.perTryMs, () => this.onPerTryTimeout(u));
    this.armPerTryIdle(u);
  }

  onPerTryTimeout(u: UpstreamRequest): void {
    if (u !== this.upstream || u.headersReceived) return;
    this.cstats!.rqPerTryTimeout.inc();
    this.perTryExpired(u);
  }

  /**
   * per_try_idle_timeout (Envoy): starts once the request is complete and the attempt has a
   * connection, restarts on every response headers or data, and unlike per_try_timeout keeps
   * running while the response streams.
   */
  private armPerTryIdle(u: UpstreamRequest): void {
    const ms = this.retry.policy?.perTryIdleTimeoutMs ?? 0;
    if (ms <= 0 || u.idle || !this.requestComplete) return;
    u.idle = new IdleDeadline(this.ctx.clock, () => this.onPerTryIdleTimeout(u));
    u.idle.start(ms);
  }

  onPerTryIdleTimeout(u: UpstreamRequest): void {
    if (u !== this.upstream || u.done || this.finished) return;
    this.cstats!.rqPerTryIdleTimeout.inc();
    this.perTryExpired(u);
  }

  /** A per-try (idle) timeout: counts against the host, then retries or answers 504 (as Envoy). */
  private perTryExpired(u: UpstreamRequest): void {
    this.cluster!.outlier?.putResult(u.host, 'LOCAL_ORIGIN_TIMEOUT');
    hostTimedOut(u);
    this.endAttempt(u, true);
    if (this.tryRetry('per try timeout')) return;
    this.timeoutReply();
  }

  onGlobalTimeout(): void {
    this.globalTimer = undefined;
    if (this.finished) return;
    this.cstats!.rqTimeout.inc();
    const u = this.upstream;
    // An attempt that already ended (reset, per-try timeout, retried response) was charged then:
    // the timeout may fire while the next one waits out its back-off.
    if (u && !u.done) {
      if (!u.headersReceived) this.cluster!.outlier?.putResult(u.host, 'LOCAL_ORIGIN_TIMEOUT');
      hostTimedOut(u);
      this.endAttempt(u, true);
    }
    if (this.retryTimer) this.retryTimer.cancel(), (this.retryTimer = undefined);
    this.timeoutReply();
  }

  private timeoutReply(): void {
    const s = this.s;
    s.addResponseFlag(ResponseFlag.UpstreamRequestTimeout);
    this.finish();
    if (this.downstreamStarted) return s.resetStream();
    s.streamInfo.responseCodeDetails = 'upstream_response_timeout';
    s.sendLocalReply(504, LocalReplyBody.upstreamTimeout);
  }

  /** Decides whether to retry after a reset or retriable response; schedules it if so. */
  private tryRetry(reason: ResetReason | number, grpcStatus?: number, headers?: HeaderMap): boolean {
    const r = this.retry;
    const retriable = typeof reason === 'number' ? r.retriableResponse(reason, grpcStatus, headers) : r.retriableReset(reason);
    if (!retriable || this.downstreamStarted || this.finished) return false;
    if (!this.requestComplete && !this.keepBody) return false;
    if (!r.take()) {
      this.cstats!.rqRetryLimitExceeded.inc();
      this.s.addResponseFlag(ResponseFlag.UpstreamRetryLimitExceeded);
      return false;
    }
    // The attempt being retried gives its retry slot back first (Envoy's resetRetry): one request
    // never holds two, or max_retries 1 would refuse every second retry.
    const current = this.upstream;
    if (current?.releaseRetry) {
      current.releaseRetry();
      current.releaseRetry = undefined;
    }
    const release = this.cluster!.tryAcquire('retries');
    if (!release) {
      // The circuit breaker counted upstream_rq_retry_overflow.
      return false;
    }
    this.retryRelease = release;
    this.cstats!.rqRetry.inc();
    const delay = r.backoffMs(this.ctx.random);
    this.retryTimer = this.ctx.clock.after(delay, () => this.onRetryTimer());
    return true;
  }

  onRetryTimer(): void {
    this.retryTimer = undefined;
    if (this.finished) return;
    if (this.requestComplete) this.startAttempt();
    else this.retryWhenComplete = true;
  }

  private endAttempt(u: UpstreamRequest, abort: boolean): void {
    if (abort) u.abort();
    else u.finish();
    if (this.upstreamActive && u === this.upstream) {
      this.upstreamActive = false;
      this.cstats!.rqActive.dec();
    }
  }

  // ---------- UpstreamRequestOwner ----------

  onUpstreamHeaders(u: UpstreamRequest, status: number, h: HeaderMap): void {
    if (u !== this.upstream) return;
    const grpcStatusHdr = h.get('grpc-status');
    const grpcStatus = grpcStatusHdr !== undefined ? Number(grpcStatusHdr) : undefined;
    const outlier = this.cluster!.outlier;
    if (outlier) {
      // gRPC as Envoy reports it: a status in the headers (trailers-only) counts mapped to HTTP; a
      // 200 that will carry its status in trailers is reported when they arrive.
      if (grpcStatus !== undefined) outlier.putHttpResponseCode(u.host, grpcToHttpStatus(grpcStatus));
      else if (this.isGrpc && status === 200) u.grpcOutcomeDeferred = true;
      else outlier.putHttpResponseCode(u.host, status);
    }
    u.idle?.touch();
    if (this.tryRetry(status, grpcStatus, h)) {
      hostStatsOf(u.host).rqError++;
      this.cstats!.response(status);
      this.endAttempt(u, true);
      return;
    }
    // gRPC's outcome is its status (mapped as Envoy maps it), from the trailers when it is not here.
    if (grpcStatus !== undefined) hostOutcome(u.host, grpcToHttpStatus(grpcStatus));
    else if (this.isGrpc && status === 200) u.grpcOutcomeDeferred = true;
    else hostOutcome(u.host, status);
    if (u.perTryTimer) u.perTryTimer.cancel(), (u.perTryTimer = undefined);
    if (this.attempts > 1 && status < 500) this.cstats!.rqRetrySuccess.inc();
    this.cstats!.response(status);
    const s = this.s;
    h.set('x-envoy-upstream-service-time', String(this.ctx.clock.now() - u.startTime));
    if (this.includeAttemptCountInResponse) h.set('x-envoy-attempt-count', String(this.attempts));
    if (this.responseHeaderOps) {
      const ctx: FormatContext = { info: s.streamInfo, requestHeaders: this.requestHeaders, responseHeaders: h };
      applyResponseHeaders(this.route!, this.choice!.responseHeaders, h, ctx);
    }
    s.streamInfo.responseCodeDetails = 'via_upstream';
    // A gRPC trailers-only response keeps its single HEADERS frame with END_STREAM.
    this.trailersOnly = grpcStatus !== undefined;
    this.downstreamStarted = true;
    s.encodeHeaders(status, h, this.trailersOnly);
    if (this.trailersOnly) this.complete(u);
  }

  onUpstreamData(u: UpstreamRequest, chunk: Buffer): void {
    if (u !== this.upstream || this.trailersOnly || this.finished) return;
    u.idle?.touch();
    if (!this.s.encodeData(chunk, false)) {
      this.pausedUpstream = u;
      u.pause();
    }
  }

  onUpstreamAttach(u: UpstreamRequest): void {
    if (u === this.upstream && !u.done) this.armPerTryTimers(u);
  }

  onBelowWriteBufferLowWatermark(): void {
    const u = this.pausedUpstream;
    this.pausedUpstream = undefined;
    u?.resume();
  }

  onUpstreamComplete(u: UpstreamRequest, trailers: HeaderMap | undefined): void {
    if (u !== this.upstream || this.finished) return;
    if (u.grpcOutcomeDeferred) {
      const g = trailers?.get('grpc-status');
      const code = grpcToHttpStatus(g !== undefined ? Number(g) : undefined);
      this.cluster!.outlier?.putHttpResponseCode(u.host, code);
      hostOutcome(u.host, code);
    }
    this.complete(u);
    if (this.trailersOnly) return;
    if (trailers) this.s.encodeTrailers(trailers);
    else this.s.encodeData(EMPTY, true);
  }

  private complete(u: UpstreamRequest): void {
    this.endAttempt(u, !u.done);
    this.finish();
  }

  onUpstreamReset(u: UpstreamRequest, reason: ResetReason, err: Error): void {
    if (u !== this.upstream || this.finished) return;
    const s = this.s;
    this.endAttempt(u, false);
    if (reason === 'connection failure') {
      this.cstats!.cxConnectFail.inc();
      s.streamInfo.upstreamTransportFailureReason = err.message;
    } else if (reason !== 'overflow') this.cstats!.rqRxReset.inc();
    // As Envoy: every reset but an overflow counts against the host as a local-origin failure.
    if (reason !== 'overflow') {
      this.cluster!.outlier?.putResult(u.host, 'LOCAL_ORIGIN_CONNECT_FAILED');
      // A response that had begun was counted then (rq_success or rq_error).
      if (!u.headersReceived) hostStatsOf(u.host).rqError++;
    }
    if (!u.headersReceived && this.tryRetry(reason)) return;
    const flag = reason === 'connection failure' ? ResponseFlag.UpstreamConnectionFailure : reason === 'remote reset' || reason === 'remote refused stream reset' ? ResponseFlag.UpstreamRemoteReset : reason === 'overflow' ? ResponseFlag.UpstreamOverflow : reason === 'protocol error' ? ResponseFlag.UpstreamProtocolError : ResponseFlag.UpstreamConnectionTermination;
    this.finish();
    if (this.downstreamStarted) {
      s.addResponseFlag(flag);
      return s.resetStream();
    }
    s.streamInfo.responseCodeDetails = `upstream_reset_before_response_started{${reason.replace(/ /g, '_')}}`;
    // A pool's pending-queue overflow is answered as Envoy does: 503 UO with x-envoy-overloaded.
    s.sendLocalReply(503, LocalReplyBody.upstreamReset(reason), reason === 'overflow' ? { 'x-envoy-overloaded': 'true' } : undefined, { responseFlag: flag });
  }

  onUpstreamUpgrade(u: UpstreamRequest, status: number, h: HeaderMap, socket: Duplex): void {
    if (u !== this.upstream || this.finished) return void socket.destroy();
    hostStatsOf(u.host).rqSuccess++;
    this.cstats!.response(status);
    this.complete(u);
    applyResponseHeaders(this.route!, this.choice!.responseHeaders, h, { info: this.s.streamInfo, requestHeaders: this.requestHeaders, responseHeaders: h });
    this.s.streamInfo.responseCodeDetails = 'via_upstream';
    this.downstreamStarted = true;
    if (this.s.upgrade) this.s.upgrade(socket, status, h);
    else socket.destroy();
  }

  onResetStream(): void {
    // Downstream went away: abort the upstream attempt (Envoy's upstream_rq_tx_reset).
    if (this.upstream && !this.upstream.done) {
      this.cstats?.rqTxReset.inc();
      this.endAttempt(this.upstream, true);
    }
    this.finish();
  }

  onDestroy(): void {
    if (this.upstream && !this.upstream.done && !this.s.upgradeType) this.endAttempt(this.upstream, true);
    this.finish();
  }

  // ---------- headers ----------

  private finalizeRequestHeaders(h: HeaderMap, route: RouteEntry, action: RouteAction, choice: ClusterChoice, t: Timeouts): void {
    const s = this.s;
    const full = getHeader(h, ':path') ?? '/';
    let path = full;
    if (action.prefixRewrite !== undefined && route.matchedPrefix !== undefined) {
      const [p, q] = splitPath(full);
      const cs = route.config.match?.case_sensitive !== false;
      if (cs ? p.startsWith(route.matchedPrefix) : p.toLowerCase().startsWith(route.matchedPrefix.toLowerCase())) path = rewritePrefix(p, route.matchedPrefix, action.prefixRewrite) + q;
    } else if (action.regexRewrite) {
      path = rewriteRegex(full, action.regexRewrite);
    }
    if (path !== full) {
      h.set('x-envoy-original-path', full);
      h.set(':path', path);
    }
    const hostRewrite = choice.hostRewriteLiteral ?? action.hostRewriteLiteral ?? (action.hostRewriteHeader ? getHeader(h, action.hostRewriteHeader) : undefined);
    if (hostRewrite) h.set(':authority', hostRewrite);
    applyRequestHeaders(route, choice.requestHeaders, h, { info: s.streamInfo, requestHeaders: h });
    const expected = t.perTryMs > 0 ? t.perTryMs : t.globalMs;
    if (expected > 0) h.set('x-envoy-expected-rq-timeout-ms', String(expected));
    if (route.decoratorOperation && route.config.decorator?.propagate !== false) h.set('x-envoy-decorator-operation', route.decoratorOperation);
    this.includeAttemptCount = route.vhost.config.include_request_attempt_count === true;
    this.includeAttemptCountInResponse = route.vhost.config.include_attempt_count_in_response === true;
    // Most routes mutate no response headers: then no FormatContext is built per response.
    const vh = route.vhost;
    this.responseHeaderOps = !(route.responseHeaders.empty && vh.responseHeaders.empty && vh.routeConfig.responseHeaders.empty && choice.responseHeaders.empty);
    this.method = getHeader(h, ':method') ?? 'GET';
    this.path = getHeader(h, ':path') ?? '/';
    const authority = (this.authority = getHeader(h, ':authority') ?? '');
    // Upgrade tokens are re-added by the HTTP/1.1 encoder from `upgrade`.
    const flat = toFlatList(h, s.upgradeType ? UPGRADE_SKIP : undefined);
    flat.push('host', authority);
    this.upstreamHeaders = flat;
    this.autoHost = action.autoHostRewrite;
  }

  private setUpstreamHeader(name: string, value: string): void {
    const f = this.upstreamHeaders;
    for (let i = 0; i < f.length; i += 2) if (f[i] === name) return void (f[i + 1] = value);
    f.push(name, value);
  }
}

const UPGRADE_SKIP = new Set(['upgrade', 'connection']);

export const routerFilterFactory: HttpFilterFactory = {
  create(_config, ctx) {
    // http.<stat_prefix>.* counters the router itself answers for, resolved once per config.
    const c = (n: string) => ctx.stats.counter(ctx.statPrefix + n);
    const rctx: RouterContext = { ...ctx, noRoute: c('no_route'), noCluster: c('no_cluster'), rqRedirect: c('rq_redirect'), rqDirectResponse: c('rq_direct_response') };
    return (cb: StreamFilterCallbacks) => new Router(cb, rctx);
  },
};
