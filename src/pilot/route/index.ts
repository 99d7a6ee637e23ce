/**
 * RDS: Envoy RouteConfigurations from Istio VirtualServices (Istio's
 * buildSidecarOutboundHTTPRouteConfig and the proxyless gRPC route generator).
 *
 * Route configuration names:
 * - `"9080"`: a sidecar's outbound HTTP routes for every visible service on port 9080, plus the
 *   catch-all virtual host the outbound traffic policy asks for;
 * - `"<host>:<port>"` (or Istio's `outbound|<port>||<host>`): one virtual host for one service,
 *   as proxyless gRPC clients ask for it;
 * - `"http.<port>"` / `"https.<port>.<portName>.<gateway>.<ns>"`: a router's routes, built by
 *   src/pilot/gateway/route.ts from the same merged servers its listeners use.
 */
import type { Service } from '../../registry/model.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { buildGatewayRouteConfiguration, parseGatewayRouteName } from '../gateway/route.ts';
import { expandClientHost } from '../host.ts';
import type { Proxy, PushContext } from '../types.ts';
import { servicesForProxy, sidecarScopeFor } from '../visibility.ts';
import { hostsWithoutService, MESH_GATEWAY, virtualServicesForHost, virtualServicesForProxy, type VirtualService } from '../virtualservice/index.ts';
import { PASSTHROUGH_CLUSTER, parseClusterName } from '../cluster/name.ts';
import { allowAnyCluster } from '../cluster/egress_proxy.ts';
import { buildDefaultRoute, buildVirtualServiceRoutes, DEFAULT_ROUTE_NAME, type RouteOptions } from './http_route.ts';
import { catchAllVirtualHost, dedupeDomains, hostDomains, serviceDomains } from './virtual_host.ts';

export { clusterNameFor, outboundClusterName } from './destination.ts';
export { buildVirtualServiceRoutes, buildDefaultRoute, type RouteOptions } from './http_route.ts';

/** Protocols whose ports get HTTP routes (Istio's IsHTTPOrSniffed: unknown means sniffed). */
const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'UNSUPPORTED']);

export function isHttpPort(protocol: string): boolean {
  return HTTP_PROTOCOLS.has(protocol);
}

/** The RouteConfiguration called `routeName` for `proxy`, or undefined if the name means nothing. */
export function buildRouteConfiguration(push: PushContext, proxy: Proxy, routeName: string): EnvoyJson | undefined {
  if (/^\d+$/.test(routeName)) return buildSidecarOutbound(push, proxy, Number(routeName));
  if (parseGatewayRouteName(routeName)) return buildGatewayRouteConfiguration(push, proxy, routeName);
  const single = parseSingleHostName(routeName);
  if (single) return buildSingleHost(push, proxy, routeName, single.host, single.port);
  return undefined;
}

function optionsFor(push: PushContext, proxy: Proxy, listenPort: number): RouteOptions {
  return { push, proxy, listenPort, gatewayNames: new Set([MESH_GATEWAY]), grpc: proxy.generator === 'grpc' };
}

/** Routes for one host from the VirtualServices that claim it (merged), memoised per VS. */
function routesFromVirtualServices(matched: VirtualService[], opts: RouteOptions, cache: Map<VirtualService, EnvoyJson[]>): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  for (const vs of matched) {
    let routes = cache.get(vs);
    if (!routes) {
      routes = buildVirtualServiceRoutes(vs, opts);
      cache.set(vs, routes);
    }
    out.push(...routes);
  }
  return out;
}

function virtualHost(name: string, domains: string[], routes: EnvoyJson[]): EnvoyJson {
  return { name, domains, routes, include_request_attempt_count: true };
}

/** Routes for a service: its VirtualServices' rules, or Istio's default route when none apply. */
function serviceRoutes(svc: Service, port: number, vss: VirtualService[], opts: RouteOptions, cache: Map<VirtualService, EnvoyJson[]>): EnvoyJson[] {
  const routes = routesFromVirtualServices(virtualServicesForHost(vss, svc.hostname), opts, cache);
  return routes.length > 0 ? routes : [buildDefaultRoute(opts, svc.hostname, port)];
}

function buildSidecarOutbound(push: PushContext, proxy: Proxy, port: number): EnvoyJson {
  const opts = optionsFor(push, proxy, port);
  const visible = servicesForProxy(push, proxy);
  const vss = virtualServicesForProxy(push, proxy);
  const cache = new Map<VirtualService, EnvoyJson[]>();
  const vhosts: EnvoyJson[] = [];
  // A Sidecar egress listener for this port decides which hosts it serves.
  const onPort = servicesForProxy(push, proxy, port)
    .filter((s) => s.ports.some((p) => p.port === port && isHttpPort(p.protocol)))
    .sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  for (const svc of onPort) {
    vhosts.push(virtualHost(`${svc.hostname}:${port}`, serviceDomains(svc, port, proxy.dnsDomain, true), serviceRoutes(svc, port, vss, opts, cache)));
  }
  // VirtualService hosts that are no service (e.g. an external name) still route, on port 80
  // only, as Istio does: that is the port plain-HTTP clients use for them.
  if (port === 80) {
    const known = new Set(visible.map((s) => s.hostname));
    const claimedByWildcard = (h: string) => h.startsWith('*') && visible.some((s) => s.hostname.endsWith(h.slice(1)));
    for (const host of hostsWithoutService(vss, (h) => known.has(h) || claimedByWildcard(h))) {
      const routes = routesFromVirtualServices(vss.filter((vs) => (vs.spec.hosts ?? []).includes(host)), opts, cache);
      if (routes.length > 0) vhosts.push(virtualHost(`${host}:${port}`, hostDomains(host, port, true), routes));
    }
  }
  if (proxy.generator !== 'grpc') vhosts.push(catchAllVirtualHost(sidecarScopeFor(push, proxy).outboundTrafficPolicy, allowAnyCluster(push, proxy, PASSTHROUGH_CLUSTER)));
  return { name: String(port), virtual_hosts: dedupeDomains(vhosts), validate_clusters: false };
}

/** `host:port` or `outbound|port||host`. */
export function parseSingleHostName(name: string): { host: string; port: number } | undefined {
  const c = parseClusterName(name);
  if (c?.direction === 'outbound') return { host: c.host, port: c.port };
  const i = name.lastIndexOf(':');
  if (i <= 0) return undefined;
  const port = Number(name.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  return { host: name.slice(0, i), port };
}

/** One virtual host for one service port, for proxyless gRPC (no catch-all: gRPC has no passthrough). */
function buildSingleHost(push: PushContext, proxy: Proxy, routeName: string, host: string, port: number): EnvoyJson | undefined {
  const visible = servicesForProxy(push, proxy);
  const candidates = expandClientHost(host, proxy.namespace);
  const svc = candidates.map((h) => visible.find((s) => s.hostname === h)).find((s) => s !== undefined);
  if (!svc || !svc.ports.some((p) => p.port === port)) return undefined;
  const opts = optionsFor(push, proxy, port);
  const routes = serviceRoutes(svc, port, virtualServicesForProxy(push, proxy), opts, new Map());
  // The name the client dialled is a domain too, so `xds:///echo:7070` finds its virtual host.
  const domains = [...serviceDomains(svc, port, proxy.dnsDomain, true), host, `${host}:${port}`];
  return { name: routeName, virtual_hosts: dedupeDomains([virtualHost(`${svc.hostname}:${port}`, domains, routes)]), validate_clusters: false };
}

/**
 * The inbound listener's route configuration: everything arriving on `port` goes to the local
 * workload's inbound cluster, without a timeout (the caller's sidecar enforces timeouts).
 */
export function buildInboundRouteConfiguration(proxy: Proxy, port: number, clusterName: string, hostname?: string): EnvoyJson {
  const action: EnvoyJson = { cluster: clusterName, timeout: '0s' };
  if (proxy.generator === 'grpc') action.max_stream_duration = { max_stream_duration: '0s' };
  else action.max_grpc_timeout = '0s';
  const operation = hostname ? `${hostname}:${port}/*` : `${clusterName}/*`;
  return {
    name: clusterName,
    virtual_hosts: [
      {
        name: `inbound|http|${port}`,
        domains: ['*'],
        routes: [{ name: DEFAULT_ROUTE_NAME, match: { prefix: '/' }, route: action, decorator: { operation } }],
      },
    ],
    validate_clusters: false,
  };
}
