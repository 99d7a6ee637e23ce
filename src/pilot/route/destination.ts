/**
 * From a VirtualService destination to an Envoy cluster name, shared by HTTP routes (here) and
 * the listener builder's tcp/tls routes: `outbound|<port>|<subset>|<host>` as Istio names them.
 */
import type { Service } from '../../registry/model.ts';
import { clusterName } from '../cluster/name.ts';
import { resolveHost } from '../host.ts';
import { pushIndex } from '../push_context.ts';
import type { PushContext } from '../types.ts';
import type { Destination } from '../../api/networking.ts';

/** Istio's BuildSubsetKey for outbound clusters. */
export function outboundClusterName(port: number, subset: string | undefined, host: string): string {
  return clusterName('outbound', port, subset, host);
}

/**
 * Istio's GetDestinationCluster: the destination's port if written, else the service's only port,
 * else the port the route is served on.
 */
export function destinationPort(destination: Destination, service: Service | undefined, fallbackPort: number): number {
  if (destination.port?.number) return destination.port.number;
  if (service && service.ports.length === 1) return service.ports[0]!.port;
  return fallbackPort;
}

/**
 * Cluster name for a destination written in a VirtualService of namespace `vsNamespace`
 * (short hosts resolve there). `fallbackPort` is the port the traffic arrived on.
 */
export function clusterNameFor(push: PushContext, vsNamespace: string, destination: Destination, fallbackPort: number): string {
  const host = resolveHost(destination.host, vsNamespace);
  const service = pushIndex(push).servicesByHost.get(host);
  return outboundClusterName(destinationPort(destination, service, fallbackPort), destination.subset, host);
}
