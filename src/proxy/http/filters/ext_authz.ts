/**
 * envoy.filters.http.ext_authz (ExtAuthz): asks an external authorization service about each
 * request before it goes on — over HTTP (http_service) or gRPC's
 * envoy.service.auth.v3.Authorization/Check (grpc_service.envoy_grpc), through one of the
 * proxy's clusters (./ext_authz/dispatch.ts). While the check runs the request waits (the
 * filter chain stops; the body queues in the filter manager). with_request_body makes the check
 * wait for the body and carry it (x-envoy-auth-partial-body says whether all of it): a body over
 * max_request_bytes is cut there with allow_partial_message, else answered 413.
 *
 * - OK: the service's upstream headers are set / appended / removed on the request (the route is
 *   matched again when clear_route_cache), its client headers are added to the response.
 * - Denied: a local reply with the service's status (403 by default), body and headers;
 *   response flag UAEX, details ext_authz_denied.
 * - Error (no host, reset, timeout, 5xx, bad answer): with failure_mode_allow the request goes on
 *   (x-envoy-auth-failure-mode-allowed: true when failure_mode_allow_header_add), else a local
 *   reply with status_on_error (403 by default) and an empty body; details ext_authz_error.
 *
 * filter_enabled_metadata gates the check on the stream's dynamic metadata: Istio checks only
 * the requests its CUSTOM policies match, which the rbac filter before this one recorded as
 * envoy.filters.http.rbac/istio_ext_authz_shadow_effective_policy_id. ExtAuthzPerRoute is not
 * accepted (a route carrying one is rejected). Stats, as Envoy names them: <http scope>ext_authz.
 * [<stat_prefix>.]{ok,denied,error,failure_mode_allowed,disabled}.
 */
import { FilterStatus, type HeaderMap, type HttpFilter, type HttpFilterFactory, type StreamFilterCallbacks, type Clock, type ClusterManager } from '../../interfaces.ts';
import { appendHeader } from '../common/header_utils.ts';
import { compileExtAuthz, type ExtAuthzConfig } from './ext_authz/config.ts';
import { checkHttp } from './ext_authz/http_client.ts';
import { checkGrpc } from './ext_authz/grpc_client.ts';
import { checkRequest } from './ext_authz/check_request.ts';
import type { AuthzResponse, CheckCall, HeaderPairs } from './ext_authz/response.ts';

export const EXT_AUTHZ_FILTER_NAME = 'envoy.filters.http.ext_authz';
/** Envoy's response flag for a request the authorization service refused or could not answer. */
export const UNAUTHORIZED_EXTERNAL_SERVICE = 'UAEX';

type Counter = { inc(n?: number): void };
interface Counters {
  ok: Counter;
  denied: Counter;
  error: Counter;
  failureModeAllowed: Counter;
  disabled: Counter;
}

interface Deps {
  cm: ClusterManager;
  clock: Clock;
}

function toRecord(pairs: HeaderPairs): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of pairs) out[k] = out[k] === undefined ? v : `${out[k]}, ${v}`;
  return out;
}

class ExtAuthzFilter implements HttpFilter {
  private state: 'idle' | 'buffering' | 'calling' | 'done' = 'idle';
  private call: CheckCall | undefined;
  private responseHeaders: HeaderPairs | undefined;
  private headers: HeaderMap | undefined;
  private readonly body: Buffer[] = [];
  private bodySize = 0;
  /** With with_request_body the filter reads the body while it holds the request (filter_manager.ts). */
  readonly decodeDataWhileStopped: boolean;

  constructor(
    private readonly cb: StreamFilterCallbacks,
    private readonly cfg: ExtAuthzConfig,
    private readonly stats: Counters,
    private readonly deps: Deps,
  ) {
    this.decodeDataWhileStopped = cfg.withBody !== undefined;
  }

  decodeHeaders(h: HeaderMap, endStream: boolean): FilterStatus {
    const info = this.cb.streamInfo;
    if (this.cfg.enabledMetadata && !this.cfg.enabledMetadata(info.dynamicMetadata)) {
      this.stats.disabled.inc();
      return FilterStatus.Continue;
    }
    if (this.cfg.withBody && !endStream && this.cb.upgradeType === undefined) {
      // Envoy's with_request_body: the check waits for the body (or max_request_bytes of it).
      this.state = 'buffering';
      this.headers = h;
      return FilterStatus.StopIteration;
    }
    this.startCheck(h, false);
    return FilterStatus.StopIteration;
  }

  decodeData(chunk: Buffer, endStream: boolean): FilterStatus {
    if (this.state !== 'buffering') return FilterStatus.Continue;
    const limit = this.cfg.withBody!;
    if (this.bodySize + chunk.length > limit.maxBytes) {
      if (!limit.allowPartial) {
        this.state = 'done';
        this.cb.streamInfo.responseCodeDetails = 'request_payload_too_large';
        this.cb.sendLocalReply(413, 'Payload Too Large');
        return FilterStatus.StopIteration;
      }
      this.body.push(chunk.subarray(0, limit.maxBytes - this.bodySize));
      this.bodySize = limit.maxBytes;
      this.startCheck(this.headers!, true);
      return FilterStatus.StopIteration;
    }
    this.body.push(chunk);
    this.bodySize += chunk.length;
    if (endStream) this.startCheck(this.headers!, false);
    return FilterStatus.StopIteration;
  }

  decodeTrailers(): FilterStatus {
    if (this.state === 'buffering') this.startCheck(this.headers!, false);
    return FilterStatus.Continue;
  }

  private startCheck(h: HeaderMap, partial: boolean): void {
    this.state = 'calling';
    const s = this.cfg.service;
    const done = (r: AuthzResponse) => this.onComplete(h, r);
    let checked = h;
    let body: Buffer | undefined;
    if (this.cfg.withBody) {
      body = Buffer.concat(this.body);
      // Envoy tells the authorizer whether it sees the whole body.
      checked = new Map(h);
      checked.set('x-envoy-auth-partial-body', partial ? 'true' : 'false');
    }
    const info = this.cb.streamInfo;
    this.call =
      s.kind === 'http'
        ? checkHttp(s, this.deps.cm, this.deps.clock, checked, body, done)
        : checkGrpc(s, this.deps.cm, this.deps.clock, checkRequest(checked, this.cb.connection, info, this.deps.clock.now(), body && { bytes: body, packAsBytes: this.cfg.withBody!.packAsBytes }), done);
  }

  private onComplete(h: HeaderMap, r: AuthzResponse): void {
    if (this.state !== 'calling') return;
    this.state = 'done';
    this.call = undefined;
    const info = this.cb.streamInfo;
    if (r.status === 'ok') {
      this.stats.ok.inc();
      for (const k of r.headersToRemove) if (k.charCodeAt(0) !== 58 && k !== 'host') h.delete(k);
      const set = new Set<string>();
      for (const [k, v] of r.headersToSet) {
        if (set.has(k)) appendHeader(h, k, v);
        else h.set(k, v);
        set.add(k);
      }
      for (const [k, v] of r.headersToAppend) appendHeader(h, k, v);
      if (r.responseHeadersToAdd.length > 0) this.responseHeaders = r.responseHeadersToAdd;
      const changed = r.headersToSet.length + r.headersToAppend.length + r.headersToRemove.length > 0;
      if (this.cfg.clearRouteCache && changed) this.cb.clearRouteCache();
      this.cb.continueDecoding();
      return;
    }
    if (r.status === 'denied') {
      this.stats.denied.inc();
      info.responseCodeDetails = 'ext_authz_denied';
      this.cb.addResponseFlag(UNAUTHORIZED_EXTERNAL_SERVICE);
      this.cb.sendLocalReply(r.statusCode, r.body, toRecord(r.headersToSet));
      return;
    }
    this.stats.error.inc();
    if (this.cfg.failureModeAllow) {
      this.stats.failureModeAllowed.inc();
      if (this.cfg.failureModeAllowHeaderAdd) h.set('x-envoy-auth-failure-mode-allowed', 'true');
      this.cb.continueDecoding();
      return;
    }
    info.responseCodeDetails = 'ext_authz_error';
    this.cb.addResponseFlag(UNAUTHORIZED_EXTERNAL_SERVICE);
    this.cb.sendLocalReply(this.cfg.statusOnError, '');
  }

  encodeHeaders(_status: number, headers: HeaderMap): FilterStatus {
    if (this.responseHeaders) for (const [k, v] of this.responseHeaders) appendHeader(headers, k, v);
    return FilterStatus.Continue;
  }

  onDestroy(): void {
    // A check still under way is dropped: its answer finds nobody.
    this.state = 'done';
    this.call?.cancel();
    this.call = undefined;
  }
  onResetStream(): void {
    this.onDestroy();
  }
}

export const extAuthzFilterFactory: HttpFilterFactory = {
  create(typedConfig, ctx) {
    const cfg = compileExtAuthz(typedConfig);
    const p = `${ctx.statPrefix}ext_authz.${cfg.statPrefix}`;
    const stats: Counters = {
      ok: ctx.stats.counter(`${p}ok`),
      denied: ctx.stats.counter(`${p}denied`),
      error: ctx.stats.counter(`${p}error`),
      failureModeAllowed: ctx.stats.counter(`${p}failure_mode_allowed`),
      disabled: ctx.stats.counter(`${p}disabled`),
    };
    const deps: Deps = { cm: ctx.clusterManager, clock: ctx.clock };
    return (cb) => new ExtAuthzFilter(cb, cfg, stats, deps);
  },
};
