/**
 * A gateway's HTTP routes (Istio's buildGatewayHTTPRouteConfig). Route names are the ones the
 * gateway listeners ask for (src/pilot/gateway/servers.ts, which both LDS and RDS read):
 * `http.<port>` for every plaintext HTTP server on a listening port, `https.<port>.<portName>.
 * <gateway>.<ns>` for one TLS-terminating server. One virtual host per hostname that a server's
 * `hosts` and a bound VirtualService's `hosts` share (the more specific of the two names it); a
 * route configuration no VirtualService serves gets Istio's 404 "blackhole" virtual host.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { intersectHosts, namespaceAdmits } from '../gateway/hosts.ts';
import { mergeGateways } from '../gateway/servers.ts';
import type { Proxy, PushContext } from '../types.ts';
import { virtualServicesForProxy, type VirtualService } from '../virtualservice/index.ts';
import { buildVirtualServiceRoutes, DEFAULT_ROUTE_NAME } from './http_route.ts';

/** True for names in the gateway route families. */
export function isGatewayRouteName(name: string): boolean {
  return /^https?\.\d+(\.|$)/.test(name);
}

interface HostEntry {
  port: number;
  routes: EnvoyJson[];
  seen: Set<VirtualService>;
  redirect: boolean;
}

export function buildGatewayRouteConfiguration(push: PushContext, proxy: Proxy, routeName: string): EnvoyJson | undefined {
  if (proxy.type !== 'router') return undefined;
  const servers = mergeGateways(push, proxy).routes.get(routeName);
  if (!servers || servers.length === 0) return undefined;
  const byHost = new Map<string, HostEntry>();
  for (const gs of servers) {
    const gatewayNames = new Set([gs.gatewayName]);
    // match.port compares with the server port as written, not the listening port.
    const opts = { push, proxy, listenPort: gs.port, gatewayNames, grpc: false };
    for (const vs of virtualServicesForProxy(push, proxy, gatewayNames)) {
      const hosts = new Set<string>();
      for (const sh of gs.hosts) {
        if (!namespaceAdmits(sh, vs.metadata.namespace)) continue;
        for (const vh of vs.spec.hosts ?? []) {
          const h = intersectHosts(sh.host, vh);
          if (h) hosts.add(h);
        }
      }
      if (hosts.size === 0) continue;
      const routes = buildVirtualServiceRoutes(vs, opts);
      if (routes.length === 0) continue;
      for (const h of hosts) {
        const e = byHost.get(h) ?? { port: gs.port, routes: [], seen: new Set<VirtualService>(), redirect: false };
        // Several VirtualServices for one host merge, oldest first (Istio merges on gateways).
        if (!e.seen.has(vs)) {
          e.seen.add(vs);
          e.routes.push(...routes);
        }
        e.redirect ||= gs.kind === 'http' && !!gs.server.tls?.httpsRedirect;
        byHost.set(h, e);
      }
    }
  }
  const vhosts: EnvoyJson[] = [...byHost.keys()].sort().map((h) => {
    const e = byHost.get(h)!;
    // `host:*` accepts the Host header with any port (clients often send the Service port).
    const vh: EnvoyJson = { name: `${h}:${e.port}`, domains: h === '*' ? ['*'] : [h, `${h}:*`], routes: e.routes, include_request_attempt_count: true };
    if (e.redirect) vh.require_tls = 'ALL';
    return vh;
  });
  if (vhosts.length === 0) {
    vhosts.push({
      name: `blackhole:${servers[0]!.port}`,
      domains: ['*'],
      routes: [{ name: DEFAULT_ROUTE_NAME, match: { prefix: '/' }, direct_response: { status: 404 } }],
      include_request_attempt_count: true,
    });
  }
  return { name: routeName, virtual_hosts: vhosts, validate_clusters: false };
}
