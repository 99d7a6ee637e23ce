/**
 * RDS for a router (Istio's buildGatewayHTTPRouteConfig). `http.<port>` merges every plaintext
 * HTTP server on the port; `https.<port>.<portName>.<gateway>.<namespace>` is one TLS-terminating
 * server. Virtual hosts: one per host a server exposes and a bound VirtualService claims (the more
 * specific of the two names it), named `<host>:<port>` with domains `<host>` and `<host>:*`; the
 * routes are the route helper's VirtualService translation, merged oldest VirtualService first.
 * Hosts no VirtualService claims get no virtual host (Envoy answers 404 NR), except on
 * `httpsRedirect` servers, whose hosts always get one that requires TLS (301 to https).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { buildVirtualServiceRoutes, type RouteOptions } from '../route/http_route.ts';
import { dedupeDomains } from '../route/virtual_host.ts';
import type { Proxy, PushContext } from '../types.ts';
import type { VirtualService } from '../virtualservice/index.ts';
import { virtualServicesForServer } from './l4.ts';
import { mergeGateways, type GatewayServer } from './servers.ts';

export interface GatewayRouteName {
  port: number;
  /** Set for `https.*` names: the one server they stand for. */
  server?: { portName: string; gateway: string; namespace: string };
}

/** Splits `http.<port>` / `https.<port>.<portName>.<gateway>.<namespace>`; undefined otherwise. */
export function parseGatewayRouteName(name: string): GatewayRouteName | undefined {
  const http = /^http\.(\d+)$/.exec(name);
  if (http) return { port: Number(http[1]) };
  const https = /^https\.(\d+)\.([^.]*)\.([^.]+)\.([^.]+)$/.exec(name);
  if (https) return { port: Number(https[1]), server: { portName: https[2]!, gateway: https[3]!, namespace: https[4]! } };
  return undefined;
}

/** Istio's buildGatewayVirtualHostDomains: the host, and the host with any port. */
export function gatewayDomains(host: string): string[] {
  return host === '*' ? ['*'] : [host, `${host}:*`];
}

interface VhostEntry {
  routes: EnvoyJson[];
  /** VirtualService+Gateway pairs already merged in, so a VS listed twice adds its routes once. */
  seen: Set<string>;
  requireTls: boolean;
}

/** The RouteConfiguration `routeName` for the router, or undefined when no server uses that name. */
export function buildGatewayRouteConfiguration(push: PushContext, proxy: Proxy, routeName: string): EnvoyJson | undefined {
  const servers = mergeGateways(push, proxy).routes.get(routeName);
  if (!servers || servers.length === 0) return undefined;
  const vhostPort = servers[0]!.port;
  const byHost = new Map<string, VhostEntry>();
  const entry = (h: string) => {
    let e = byHost.get(h);
    if (!e) byHost.set(h, (e = { routes: [], seen: new Set(), requireTls: false }));
    return e;
  };
  const cache = new Map<string, EnvoyJson[]>();
  for (const gs of servers) {
    const redirect = gs.kind === 'http' && !!gs.server.tls?.httpsRedirect;
    for (const { vs, hosts } of virtualServicesForServer(push, proxy, gs)) {
      const routes = routesFor(vs, gs, push, proxy, cache);
      if (routes.length === 0) continue;
      const key = `${vs.metadata.namespace}/${vs.metadata.name}|${gs.gatewayName}`;
      for (const h of hosts) {
        const e = entry(h);
        if (!e.seen.has(key)) {
          e.seen.add(key);
          e.routes.push(...routes);
        }
        e.requireTls ||= redirect;
      }
    }
    // httpsRedirect answers every host of the server, VirtualService or not.
    if (redirect) for (const sh of gs.hosts) entry(sh.host).requireTls = true;
  }
  const vhosts: EnvoyJson[] = [...byHost.keys()].sort().map((h) => {
    const e = byHost.get(h)!;
    const vh: EnvoyJson = { name: `${h}:${vhostPort}`, domains: gatewayDomains(h), routes: e.routes, include_request_attempt_count: true };
    if (e.requireTls) vh.require_tls = 'ALL';
    return vh;
  });
  // Istio's empty "blackhole" virtual host: no routes, so every request gets 404 NR.
  if (vhosts.length === 0) vhosts.push({ name: `blackhole:${vhostPort}`, domains: ['*'], routes: [], include_request_attempt_count: true });
  return { name: routeName, virtual_hosts: dedupeDomains(vhosts), validate_clusters: false };
}

/** Routes of one VirtualService as seen through one server (its Gateway and written port). */
function routesFor(vs: VirtualService, gs: GatewayServer, push: PushContext, proxy: Proxy, cache: Map<string, EnvoyJson[]>): EnvoyJson[] {
  const key = `${vs.metadata.namespace}/${vs.metadata.name}|${gs.gatewayName}|${gs.port}`;
  let routes = cache.get(key);
  if (!routes) {
    // match.port compares against the port as written in the Gateway, not the resolved listen port.
    const opts: RouteOptions = { push, proxy, listenPort: gs.port, gatewayNames: new Set([gs.gatewayName]), grpc: false };
    routes = buildVirtualServiceRoutes(vs, opts);
    cache.set(key, routes);
  }
  return routes;
}
