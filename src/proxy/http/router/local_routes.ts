/**
 * The routes the router answers itself: no route (404 NR), direct_response and redirect. Route,
 * virtual host and route-config response headers apply to these too, as in Envoy.
 */
import type { HeaderMap, StreamFilterCallbacks } from '../../interfaces.ts';
import type { RouterContext } from './router_state.ts';
import { getHeader } from '../common/header_utils.ts';
import { ResponseFlag } from '../common/response_flags.ts';
import type { FormatContext } from '../common/formatter.ts';
import type { RouteEntry } from './route_entry.ts';

/** Applies response header mutations: route, then vhost, then route config (or reversed). */
export function applyResponseHeaders(route: RouteEntry, extra: { evaluate(h: HeaderMap, c: FormatContext): void; empty: boolean } | undefined, h: HeaderMap, ctx: FormatContext): void {
  const vh = route.vhost;
  const rc = vh.routeConfig;
  if (rc.mostSpecificWins) {
    if (!rc.responseHeaders.empty) rc.responseHeaders.evaluate(h, ctx);
    if (!vh.responseHeaders.empty) vh.responseHeaders.evaluate(h, ctx);
    if (!route.responseHeaders.empty) route.responseHeaders.evaluate(h, ctx);
    if (extra && !extra.empty) extra.evaluate(h, ctx);
  } else {
    if (extra && !extra.empty) extra.evaluate(h, ctx);
    if (!route.responseHeaders.empty) route.responseHeaders.evaluate(h, ctx);
    if (!vh.responseHeaders.empty) vh.responseHeaders.evaluate(h, ctx);
    if (!rc.responseHeaders.empty) rc.responseHeaders.evaluate(h, ctx);
  }
}

/** Applies request header mutations in the same order as responses. */
export function applyRequestHeaders(route: RouteEntry, extra: { evaluate(h: HeaderMap, c: FormatContext): void; empty: boolean } | undefined, h: HeaderMap, ctx: FormatContext): void {
  const vh = route.vhost;
  const rc = vh.routeConfig;
  if (rc.mostSpecificWins) {
    if (!rc.requestHeaders.empty) rc.requestHeaders.evaluate(h, ctx);
    if (!vh.requestHeaders.empty) vh.requestHeaders.evaluate(h, ctx);
    if (!route.requestHeaders.empty) route.requestHeaders.evaluate(h, ctx);
    if (extra && !extra.empty) extra.evaluate(h, ctx);
  } else {
    if (extra && !extra.empty) extra.evaluate(h, ctx);
    if (!route.requestHeaders.empty) route.requestHeaders.evaluate(h, ctx);
    if (!vh.requestHeaders.empty) vh.requestHeaders.evaluate(h, ctx);
    if (!rc.requestHeaders.empty) rc.requestHeaders.evaluate(h, ctx);
  }
}

export function sendNoRoute(s: StreamFilterCallbacks, ctx: RouterContext): void {
  ctx.noRoute.inc();
  s.streamInfo.responseCodeDetails = 'route_not_found';
  s.sendLocalReply(404, '', undefined, { responseFlag: ResponseFlag.NoRouteFound });
}

function reply(s: StreamFilterCallbacks, route: RouteEntry, status: number, body: Buffer | undefined, headers: HeaderMap, requestHeaders: HeaderMap): void {
  if (body && body.length) {
    if (!headers.has('content-type')) headers.set('content-type', 'text/plain');
    headers.set('content-length', String(body.length));
  } else {
    headers.set('content-length', '0');
  }
  applyResponseHeaders(route, undefined, headers, { info: s.streamInfo, requestHeaders, responseHeaders: headers });
  const end = !body || body.length === 0 || requestHeaders.get(':method') === 'HEAD';
  s.encodeHeaders(status, headers, end);
  if (!end) s.encodeData(body!, true);
}

export function sendDirectResponse(s: StreamFilterCallbacks, ctx: RouterContext, route: RouteEntry, requestHeaders: HeaderMap): void {
  const d = route.directResponse!;
  ctx.rqDirectResponse.inc();
  s.streamInfo.responseCodeDetails = 'direct_response';
  reply(s, route, d.status, d.body, new Map(), requestHeaders);
}

export function sendRedirect(s: StreamFilterCallbacks, ctx: RouterContext, route: RouteEntry, headers: HeaderMap): void {
  const r = route.redirect!;
  ctx.rqRedirect.inc();
  s.streamInfo.responseCodeDetails = 'redirect';
  // The connection manager always sets :scheme before filters run.
  const scheme = getHeader(headers, ':scheme') ?? 'http';
  const location = r.location(scheme, getHeader(headers, ':authority') ?? '', getHeader(headers, ':path') ?? '/');
  reply(s, route, r.status, undefined, new Map([['location', location]]), headers);
}
