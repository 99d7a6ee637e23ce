/**
 * The proxyless gRPC generator (Istio's GrpcConfigGenerator). gRPC clients ask for resources by
 * name, so each type builds only what was asked: API listeners and server listeners, EDS
 * clusters with ROUND_ROBIN and mesh mTLS, endpoints, and route configurations from the route
 * builder.
 */
import type { EnvoyJson, NamedResource, TypeUrl } from '../../xds/types.ts';
import { TYPE } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { buildOutboundClusters } from '../cluster/outbound.ts';
import { buildEndpoints } from '../endpoint.ts';
import { buildRouteConfiguration } from '../route/index.ts';
import { servicesForProxy } from '../visibility.ts';
import { byName } from '../util.ts';
import { buildGrpcClusters } from './cluster.ts';
import { buildGrpcListeners } from './listener.ts';

/** Resources of one type for a proxyless gRPC client, sorted by name. */
export function generateGrpc(push: PushContext, proxy: Proxy, typeUrl: TypeUrl, names?: string[]): NamedResource[] {
  let out: EnvoyJson[];
  switch (typeUrl) {
    case TYPE.LISTENER:
      out = buildGrpcListeners(push, proxy, names);
      break;
    case TYPE.CLUSTER:
      out = buildGrpcClusters(push, proxy, names);
      break;
    case TYPE.ENDPOINT: {
      const clusterNames = names ?? buildOutboundClusters(push, proxy, servicesForProxy(push, proxy), { grpc: true }).filter((c) => c.type === 'EDS').map((c) => c.name);
      return buildEndpoints(push, proxy, clusterNames);
    }
    case TYPE.ROUTE: {
      const routeNames = names ?? buildGrpcListeners(push, proxy).map((l) => l.name as string);
      out = routeNames.map((n) => buildRouteConfiguration(push, proxy, n)).filter((r): r is EnvoyJson => !!r);
      break;
    }
    default:
      return [];
  }
  return dedupe(out).sort(byName);
}

function dedupe(resources: EnvoyJson[]): NamedResource[] {
  const m = new Map<string, NamedResource>();
  for (const r of resources) if (!m.has(r.name)) m.set(r.name, { name: r.name, resource: r });
  return [...m.values()];
}
