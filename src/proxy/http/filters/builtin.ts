/**
 * The HTTP filters the proxy ships, statically: type URL (and per-route config type URLs), Envoy's
 * canonical name, factory. New filters (security, telemetry) add a line here.
 */
import type { HttpFilterFactory } from '../../interfaces.ts';
import { HTTP_FILTER, ISTIO_FILTER } from '../../../xds/type_urls.ts';
import { routerFilterFactory } from '../router/router.ts';
import { FAULT_FILTER_NAME, faultFilterFactory } from './fault.ts';
import { CORS_FILTER_NAME, corsFilterFactory } from './cors.ts';
import { DYNAMIC_FORWARD_PROXY_FILTER_NAME, dynamicForwardProxyFilterFactory } from './dynamic_forward_proxy.ts';
import { RBAC_FILTER_NAME, rbacFilterFactory } from './rbac.ts';
import { JWT_AUTHN_FILTER_NAME, jwtAuthnFilterFactory } from './jwt_authn.ts';
import { EXT_AUTHZ_FILTER_NAME, extAuthzFilterFactory } from './ext_authz.ts';
import { PEER_METADATA_FILTER_NAME, peerMetadataFilterFactory } from '../../istio/peer_metadata_filter.ts';
import { ISTIO_STATS_FILTER_NAME, istioStatsFilterFactory } from '../../istio/stats_filter.ts';

export interface BuiltinHttpFilter {
  name: string;
  typeUrl: string;
  /** Types its typed_per_filter_config values may have (Envoy resolves per-route config by type). */
  perRouteTypeUrls: readonly string[];
  factory: HttpFilterFactory;
}

export const BUILTIN_HTTP_FILTERS: readonly BuiltinHttpFilter[] = [
  { name: 'envoy.filters.http.router', typeUrl: HTTP_FILTER.ROUTER, perRouteTypeUrls: [], factory: routerFilterFactory },
  { name: FAULT_FILTER_NAME, typeUrl: HTTP_FILTER.FAULT, perRouteTypeUrls: [HTTP_FILTER.FAULT], factory: faultFilterFactory },
  { name: CORS_FILTER_NAME, typeUrl: HTTP_FILTER.CORS, perRouteTypeUrls: [HTTP_FILTER.CORS_POLICY], factory: corsFilterFactory },
  { name: DYNAMIC_FORWARD_PROXY_FILTER_NAME, typeUrl: HTTP_FILTER.DYNAMIC_FORWARD_PROXY, perRouteTypeUrls: [HTTP_FILTER.DYNAMIC_FORWARD_PROXY_PER_ROUTE], factory: dynamicForwardProxyFilterFactory },
  { name: RBAC_FILTER_NAME, typeUrl: HTTP_FILTER.RBAC, perRouteTypeUrls: [HTTP_FILTER.RBAC_PER_ROUTE], factory: rbacFilterFactory },
  { name: JWT_AUTHN_FILTER_NAME, typeUrl: HTTP_FILTER.JWT_AUTHN, perRouteTypeUrls: [HTTP_FILTER.JWT_AUTHN_PER_ROUTE], factory: jwtAuthnFilterFactory },
  { name: EXT_AUTHZ_FILTER_NAME, typeUrl: HTTP_FILTER.EXT_AUTHZ, perRouteTypeUrls: [], factory: extAuthzFilterFactory },
  { name: PEER_METADATA_FILTER_NAME, typeUrl: ISTIO_FILTER.PEER_METADATA, perRouteTypeUrls: [], factory: peerMetadataFilterFactory },
  { name: ISTIO_STATS_FILTER_NAME, typeUrl: ISTIO_FILTER.STATS, perRouteTypeUrls: [], factory: istioStatsFilterFactory },
];
