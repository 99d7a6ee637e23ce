/**
 * The explicit HTTP proxy listener Istio builds when a sidecar's HTTP_PROXY_PORT metadata is set:
 * applications send plain HTTP to it (HTTP_PROXY=http://<addr>:<port>) and it routes by Host
 * through RDS `http_proxy`. Istio binds 127.0.0.1:<port>; tsmesh binds the app address, which is
 * 127.0.0.1 unless TSMESH_APP_ADDRESS gives each pod its own loopback address.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { appAddress } from '../interception.ts';
import { socketAddress } from '../util.ts';
import { dnsCacheConfig, usesDynamicForwardProxy } from '../cluster/dynamic_forward_proxy.ts';
import { httpConnectionManager, outboundHttpFilters, outboundHttpFiltersWithDynamicForwardProxy } from './filters.ts';
import { HTTP_PROXY_ROUTE } from './http_proxy_route.ts';
import { hcmTracing } from './tracing.ts';

/** `<app address>_<HTTP_PROXY_PORT>`, bound, HCM over RDS `http_proxy`; undefined without the port. */
export function httpProxyListener(push: PushContext, proxy: Proxy): EnvoyJson | undefined {
  const port = proxy.httpProxyPort;
  if (port === undefined) return undefined;
  const address = appAddress(proxy);
  const name = `${address}_${port}`;
  const hcm = httpConnectionManager({
    statPrefix: `outbound_${name}`,
    rds: HTTP_PROXY_ROUTE,
    // NONE mode under ALLOW_ANY: unknown hosts go where their Host says (cluster/dynamic_forward_proxy.ts).
    httpFilters: usesDynamicForwardProxy(push, proxy) ? outboundHttpFiltersWithDynamicForwardProxy(dnsCacheConfig()) : outboundHttpFilters(),
    mesh: push.mesh,
    // Proxy clients send absolute-form request lines; Istio enables the same on this listener.
    allowAbsoluteUrl: true,
    tracing: hcmTracing(push, proxy, 'CLIENT'),
  });
  return { name, address: socketAddress(address, port), bind_to_port: true, traffic_direction: 'OUTBOUND', filter_chains: [{ filters: [hcm] }] };
}
