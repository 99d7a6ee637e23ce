/**
 * Listeners for proxyless gRPC (Istio's grpcgen): for clients, one API listener per `host:port`,
 * the name the client resolves from its `xds:///host:port` target, whose HttpConnectionManager
 * points RDS at a route configuration of the same name and runs the fault filter before the
 * router; for servers, the inbound listener of
 * each `xds.istio.io/grpc/lds/inbound/<ip>:<port>` asked (inbound.ts).
 */
import type { Service } from '../../registry/model.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { expandClientHost } from '../host.ts';
import { HCM_TYPE, httpFilter } from '../listener/filters.ts';
import { pushIndex } from '../push_context.ts';
import { servicesForProxy } from '../visibility.ts';
import { adsConfigSource } from '../util.ts';
import { GRPC_INBOUND_PREFIX, buildGrpcInboundListeners } from './inbound.ts';

/**
 * API listeners for the names asked, or for every visible service port when none are; plus the
 * server listeners asked for by name (a server always names its listener).
 */
export function buildGrpcListeners(push: PushContext, proxy: Proxy, names?: string[]): EnvoyJson[] {
  if (!names) {
    return servicesForProxy(push, proxy).flatMap((s) => s.ports.filter((p) => p.protocol !== 'UDP').map((p) => apiListener(`${s.hostname}:${p.port}`)));
  }
  const visible = new Set(servicesForProxy(push, proxy).map((s) => s.hostname));
  const out: EnvoyJson[] = buildGrpcInboundListeners(push, proxy, names.filter((n) => n.startsWith(GRPC_INBOUND_PREFIX)));
  for (const name of names) {
    if (name.startsWith(GRPC_INBOUND_PREFIX)) continue;
    const target = resolveListenerName(push, proxy, name);
    if (target && visible.has(target.service.hostname)) out.push(apiListener(name));
  }
  return out;
}

/**
 * Finds the service a `host:port` listener name refers to; short names (`echo:7070`,
 * `echo.ns:7070`) resolve like Kubernetes DNS from the client's namespace.
 */
export function resolveListenerName(push: PushContext, proxy: Proxy, name: string): { service: Service; port: number } | undefined {
  const colon = name.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const port = Number(name.slice(colon + 1));
  if (!Number.isInteger(port)) return undefined;
  const byHost = pushIndex(push).servicesByHost;
  for (const host of expandClientHost(name.slice(0, colon), proxy.namespace)) {
    const service = byHost.get(host);
    if (service?.ports.some((p) => p.port === port)) return { service, port };
  }
  return undefined;
}

function apiListener(name: string): EnvoyJson {
  const hcm = {
    '@type': HCM_TYPE,
    rds: { config_source: adsConfigSource(), route_config_name: name },
    // gRPC requires the router last and rejects filters it does not know. The fault filter
    // (gRFC A33) applies the routes' VirtualService faults (typed_per_filter_config): an abort
    // ends the call with the grpcStatus, or the httpStatus mapped to a gRPC code; a delay waits.
    http_filters: [httpFilter('envoy.filters.http.fault'), httpFilter('envoy.filters.http.router')],
  };
  return { name, api_listener: { api_listener: hcm } };
}
