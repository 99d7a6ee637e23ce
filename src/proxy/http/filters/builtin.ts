/**
 * Registers the HTTP filters this package implements under their Envoy type URLs and names.
 * Imported for its side effect by src/proxy/http/index.ts.
 */
import { registerHttpFilter } from './registry.ts';
import { ROUTER_TYPE_URL, routerFilterFactory } from '../router/router.ts';
import { FAULT_FILTER_NAME, FAULT_TYPE_URL, faultFilterFactory } from './fault.ts';
import { CORS_FILTER_NAME, CORS_TYPE_URL, corsFilterFactory } from './cors.ts';
import { DYNAMIC_FORWARD_PROXY_FILTER_NAME, DYNAMIC_FORWARD_PROXY_TYPE_URL, dynamicForwardProxyFilterFactory } from './dynamic_forward_proxy.ts';

registerHttpFilter(ROUTER_TYPE_URL, routerFilterFactory, 'envoy.filters.http.router');
registerHttpFilter(FAULT_TYPE_URL, faultFilterFactory, FAULT_FILTER_NAME);
registerHttpFilter(CORS_TYPE_URL, corsFilterFactory, CORS_FILTER_NAME);
registerHttpFilter(DYNAMIC_FORWARD_PROXY_TYPE_URL, dynamicForwardProxyFilterFactory, DYNAMIC_FORWARD_PROXY_FILTER_NAME);
