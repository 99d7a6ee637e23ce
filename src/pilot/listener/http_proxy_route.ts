/**
 * RDS `http_proxy`: the routes behind the explicit HTTP proxy listener (Istio's RDSHttpProxy).
 * Clients name the port in the Host (`reviews:9080`, or the absolute URL's authority), so one
 * route configuration serves every visible HTTP service on every port. Each port's virtual hosts
 * come from route/'s own per-port builder (same routes, same VirtualService rules), keeping only
 * the domains that carry that port (port 80 keeps the bare names too, since HTTP clients omit
 * `:80`), then the vhosts are merged with duplicate domains removed.
 *
 * Unknown hosts: the sidecar's usual `allow_any` vhost sends to PassthroughCluster (ORIGINAL_DST),
 * and on a bound proxy listener the original destination is the listener itself, so passing
 * through would loop. In NONE mode under ALLOW_ANY the route therefore ends with an `allow_any`
 * vhost to DynamicForwardProxyCluster, which goes where the Host says (see
 * cluster/dynamic_forward_proxy.ts). With capture (REDIRECT / TPROXY) the app's own traffic
 * passes through the capture listeners, and this route keeps no catch-all: Envoy answers 404 (NR).
 * Under REGISTRY_ONLY the single `block_all` vhost answers 502, as on Istio's per-port routes.
 */
import { egressProxyFor } from '../cluster/egress_proxy.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { isHttpProtocol } from '../protocol.ts';
import { buildRouteConfiguration } from '../route/index.ts';
import { ALLOW_ANY, BLOCK_ALL, catchAllVirtualHost, dedupeDomains, domainWithPort } from '../route/virtual_host.ts';
import { servicesForProxy, sidecarScopeFor } from '../visibility.ts';
import { usesDynamicForwardProxy } from '../cluster/dynamic_forward_proxy.ts';
import { DYNAMIC_FORWARD_PROXY_CLUSTER } from '../cluster/name.ts';

export const HTTP_PROXY_ROUTE = 'http_proxy';
const DEFAULT_HTTP_PORT = 80;

/** The `http_proxy` RouteConfiguration, or undefined for a proxy without HTTP_PROXY_PORT. */
export function buildHttpProxyRouteConfiguration(push: PushContext, proxy: Proxy): EnvoyJson | undefined {
  if (proxy.httpProxyPort === undefined) return undefined;
  const visible = servicesForProxy(push, proxy);
  const ports = new Set<number>();
  // route/ treats UNSUPPORTED (unnamed) ports as HTTP; listeners treat them as TCP, so their
  // vhosts are left out here (see protocol.ts).
  const notHttp = new Set<string>();
  for (const svc of visible) {
    for (const p of svc.ports) {
      if (isHttpProtocol(p.protocol)) ports.add(p.port);
      else notHttp.add(`${svc.hostname}:${p.port}`);
    }
  }
  const vhosts: EnvoyJson[] = [];
  for (const port of [...ports].sort((a, b) => a - b)) {
    const rc = buildRouteConfiguration(push, proxy, String(port));
    for (const vh of (rc?.virtual_hosts ?? []) as EnvoyJson[]) {
      if (vh.name === ALLOW_ANY || vh.name === BLOCK_ALL || notHttp.has(vh.name)) continue;
      const domains = withPort(vh.domains as string[], port);
      if (domains.length > 0) vhosts.push({ ...vh, domains });
    }
  }
  if (sidecarScopeFor(push, proxy).outboundTrafficPolicy === 'REGISTRY_ONLY') vhosts.push(catchAllVirtualHost('REGISTRY_ONLY'));
  else if (usesDynamicForwardProxy(push, proxy)) vhosts.push(catchAllVirtualHost('ALLOW_ANY', DYNAMIC_FORWARD_PROXY_CLUSTER));
  else if (egressProxyFor(push, proxy)) vhosts.push(catchAllVirtualHost('ALLOW_ANY', egressProxyFor(push, proxy)!.cluster));
  return { name: HTTP_PROXY_ROUTE, virtual_hosts: dedupeDomains(vhosts), validate_clusters: false };
}

/** The domains that name `port` explicitly; on port 80, all of them. */
function withPort(domains: string[], port: number): string[] {
  if (port === DEFAULT_HTTP_PORT) return domains;
  const ported = new Set(domains.map((d) => domainWithPort(d, port)));
  return domains.filter((d) => ported.has(d));
}
