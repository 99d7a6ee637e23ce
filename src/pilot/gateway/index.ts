/**
 * Istio Gateways for router proxies (`tsmesh proxy --type router`: ingress and egress gateways).
 *
 * - Which Gateways apply: those whose `selector` matches the router's labels, from any namespace.
 * - LDS: one bound `0.0.0.0_<port>` listener per server port (listener.ts; node metadata
 *   `GATEWAY_BIND_ADDRESS` moves the bind address, e.g. to 127.0.0.1 for a loopback demo).
 * - RDS: `http.<port>` and `https.<port>.<portName>.<gateway>.<namespace>` (route.ts).
 * - CDS/EDS: the same outbound clusters a sidecar gets (the pilot core's builders, which already
 *   leave out inbound clusters for routers), plus sni-dnat clusters for AUTO_PASSTHROUGH servers.
 */
import { buildSecrets } from '../secrets.ts';
import type { EnvoyJson, NamedResource, TypeUrl } from '../../xds/types.ts';
import { TYPE } from '../../xds/types.ts';
import { buildClusters } from '../cluster/index.ts';
import { listenerRouteNames } from '../consistency.ts';
import { buildEndpoints } from '../endpoint.ts';
import type { Proxy, PushContext } from '../types.ts';
import { byName, cmp } from '../util.ts';
import { buildGatewayListeners } from './listener.ts';
import { buildGatewayRouteConfiguration } from './route.ts';
import { mergeGateways } from './servers.ts';
import { sniDnatClusters } from './sni_dnat.ts';
import { withIstioTelemetry } from '../listener/istio_telemetry_filters.ts';

export { buildGatewayListeners, gatewayBindAddress, gatewayListenerName, GATEWAY_BIND_ADDRESS } from './listener.ts';
export { buildGatewayRouteConfiguration, gatewayDomains, parseGatewayRouteName, type GatewayRouteName } from './route.ts';
export { gatewaysForProxy, gatewayRouteName, listenPortFor, mergeGateways, serverKind } from './servers.ts';
export type { GatewayServer, MergedGateway, MergedPort, ServerKind } from './servers.ts';
export { downstreamTlsContext, downstreamTlsSocket, DOWNSTREAM_TLS_CONTEXT } from './tls.ts';
export { intersectHosts, namespaceAdmits, parseServerHost, sniHosts, type ServerHost } from './hosts.ts';
export { sniDnatClusters, sniDnatTargets } from './sni_dnat.ts';

/** Clusters for a router: the core's outbound set plus sni-dnat copies, sorted by name. */
export function buildGatewayClusters(push: PushContext, proxy: Proxy): NamedResource[] {
  const core = buildClusters(push, proxy);
  const extra = sniDnatClusters(push, proxy, mergeGateways(push, proxy), core);
  if (extra.length === 0) return core;
  const names = new Set(core.map((c) => c.name));
  return [...core, ...extra.filter((c) => !names.has(c.name))].sort(byName);
}

/** Listeners for a router, sorted by name. */
export function buildGatewayListenerResources(push: PushContext, proxy: Proxy): NamedResource[] {
  return withIstioTelemetry(push, proxy, buildGatewayListeners(push, proxy))
    .map((l) => ({ name: l.name as string, resource: l }))
    .sort(byName);
}

/** Pilot's Generator for routers: every xDS type, sorted by name, narrowed to `names` when given. */
export function generateGatewayResources(push: PushContext, proxy: Proxy, typeUrl: TypeUrl, names?: string[]): NamedResource[] {
  switch (typeUrl) {
    case TYPE.CLUSTER:
      return narrow(buildGatewayClusters(push, proxy), names);
    case TYPE.ENDPOINT: {
      const eds = names ?? buildGatewayClusters(push, proxy).filter((c) => c.resource.type === 'EDS').map((c) => c.resource.eds_cluster_config?.service_name ?? c.name);
      return buildEndpoints(push, proxy, [...new Set(eds)]);
    }
    case TYPE.LISTENER:
      return narrow(buildGatewayListenerResources(push, proxy), names);
    case TYPE.ROUTE: {
      const routeNames = names ?? listenerRouteNames(buildGatewayListeners(push, proxy));
      return [...new Set(routeNames)]
        .sort(cmp)
        .map((n) => buildGatewayRouteConfiguration(push, proxy, n))
        .filter((r): r is EnvoyJson => !!r)
        .map((r) => ({ name: r.name as string, resource: r }))
        .sort(byName);
    }
    case TYPE.SECRET:
      return buildSecrets(push, proxy, names);
    default:
      return [];
  }
}

function narrow(all: NamedResource[], names?: string[]): NamedResource[] {
  if (!names) return all;
  const wanted = new Set(names);
  return all.filter((r) => wanted.has(r.name));
}
