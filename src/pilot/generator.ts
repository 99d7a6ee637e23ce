/**
 * The entry point the ADS server calls: resources of one type for one proxy, dispatched by
 * proxy kind (Envoy sidecar or router, or proxyless gRPC) and type URL. When `names` is given,
 * only those resources are returned (and only the ones that exist).
 */
import type { EnvoyJson, NamedResource, TypeUrl } from '../xds/types.ts';
import { TYPE } from '../xds/types.ts';
import type { Generator, Proxy, PushContext } from './types.ts';
import { buildClusters } from './cluster/index.ts';
import { buildEndpoints } from './endpoint.ts';
import { generateGrpc } from './grpc/index.ts';
import { generateGatewayResources } from './gateway/index.ts';
import { buildHttpProxyRouteConfiguration, buildListeners, HTTP_PROXY_ROUTE } from './listener/index.ts';
import { buildRouteConfiguration } from './route/index.ts';
import { listenerRouteNames } from './consistency.ts';
import { buildSecrets } from './secrets.ts';
import { byName, cmp } from './util.ts';
import { withAccessLogs } from './telemetry/access_log.ts';
import { generateNameTable } from './nds/name_table.ts';

/** Pilot's Generator: pure, sorted by name, narrowed to `names` when given. */
export const generate: Generator = (push: PushContext, proxy: Proxy, typeUrl: TypeUrl, names?: string[]): NamedResource[] => {
  if (proxy.generator === 'grpc') return generateGrpc(push, proxy, typeUrl, names);
  // NDS: the agent's DNS name table (sidecars and gateways alike, as istiod serves it).
  if (typeUrl === TYPE.NAME_TABLE) return generateNameTable(push, proxy);
  const out = generateEnvoy(push, proxy, typeUrl, names);
  // Access logs per listener side (Telemetry API, else meshConfig.accessLogFile).
  return typeUrl === TYPE.LISTENER ? withAccessLogs(push, proxy, out) : out;
};

function generateEnvoy(push: PushContext, proxy: Proxy, typeUrl: TypeUrl, names?: string[]): NamedResource[] {
  if (proxy.type === 'router') return generateGatewayResources(push, proxy, typeUrl, names);
  switch (typeUrl) {
    case TYPE.CLUSTER:
      return narrow(buildClusters(push, proxy), names);
    case TYPE.ENDPOINT:
      // Envoy asks EDS by the service_name of its EDS clusters; build straight from the names.
      return buildEndpoints(push, proxy, names ?? edsClusterNames(buildClusters(push, proxy)));
    case TYPE.LISTENER:
      return narrow(buildListeners(push, proxy), names);
    case TYPE.ROUTE: {
      const routeNames = names ?? listenerRouteNames(buildListeners(push, proxy).map((l) => l.resource));
      return [...new Set(routeNames)]
        .sort(cmp)
        // `http_proxy` is the HTTP proxy listener's merged route (listener/http_proxy_route.ts).
        .map((n) => (n === HTTP_PROXY_ROUTE ? buildHttpProxyRouteConfiguration(push, proxy) : buildRouteConfiguration(push, proxy, n)))
        .filter((r): r is EnvoyJson => !!r)
        .map((r) => ({ name: r.name as string, resource: r }))
        .sort(byName);
    }
    case TYPE.SECRET:
      // credentialName Secrets; the workload's own certificate comes from its agent.
      return buildSecrets(push, proxy, names);
    default:
      return [];
  }
}

/** EDS resource names referenced by a set of clusters. */
export function edsClusterNames(clusters: NamedResource[]): string[] {
  return clusters.filter((c) => c.resource.type === 'EDS').map((c) => c.resource.eds_cluster_config?.service_name ?? c.name);
}

function narrow(all: NamedResource[], names?: string[]): NamedResource[] {
  if (!names) return all;
  const wanted = new Set(names);
  return all.filter((r) => wanted.has(r.name));
}
