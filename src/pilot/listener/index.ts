/**
 * LDS for a proxy. Sidecars under iptables capture (REDIRECT / TPROXY): per-port outbound
 * listeners plus virtualOutbound / virtualInbound; under NONE: bound listeners (none.ts). Either
 * way, HTTP_PROXY_PORT adds the explicit HTTP proxy listener. Routers (gateways) are built in
 * src/pilot/gateway, selected by proxy.type in the generator.
 */
import type { EnvoyJson, NamedResource } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { isNoneMode } from '../interception.ts';
import { byName } from '../util.ts';
import { httpProxyListener } from './http_proxy.ts';
import { boundInboundListeners, buildBoundListeners } from './none.ts';
import { buildOutboundListeners } from './outbound.ts';
import { virtualInboundListener, virtualOutboundListener } from './virtual.ts';
import { withIstioTelemetry } from './istio_telemetry_filters.ts';

export { VIRTUAL_INBOUND, VIRTUAL_OUTBOUND } from './virtual.ts';
export { HTTP_PROXY_ROUTE, buildHttpProxyRouteConfiguration } from './http_proxy_route.ts';

/** Every listener for the proxy, sorted by name. */
export function buildListeners(push: PushContext, proxy: Proxy): NamedResource[] {
  if (proxy.type !== 'sidecar') return [];
  const listeners = withIstioTelemetry(push, proxy, isNoneMode(proxy) ? buildBoundListeners(push, proxy) : captureListeners(push, proxy));
  return listeners.map((l) => ({ name: l.name as string, resource: l })).sort(byName);
}

function captureListeners(push: PushContext, proxy: Proxy): EnvoyJson[] {
  const out = [...buildOutboundListeners(push, proxy), virtualOutboundListener(push, proxy), virtualInboundListener(push, proxy), ...boundInboundListeners(push, proxy)];
  // Istio adds the HTTP proxy listener whatever the interception mode.
  const httpProxy = httpProxyListener(push, proxy);
  if (httpProxy) out.push(httpProxy);
  return out;
}
