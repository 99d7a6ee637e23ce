/**
 * Sidecar `outboundTrafficPolicy.egressProxy` (Istio): under ALLOW_ANY, traffic for destinations
 * the mesh does not know goes to the egress proxy's outbound cluster
 * (`outbound|<port>|<subset>|<host>`) instead of PassthroughCluster: the catch-all TCP chain of
 * virtualOutbound and the `allow_any` virtual host of HTTP routes. Under REGISTRY_ONLY it is
 * ignored (validation refuses that combination, as Istio's does).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { pushIndex } from '../push_context.ts';
import { sidecarScopeFor } from '../visibility.ts';
import { clusterName } from './name.ts';
import { buildOutboundCluster } from './outbound.ts';

export interface EgressProxy {
  /** The cluster unknown destinations go to. */
  cluster: string;
  host: string;
  port: number;
  subset?: string;
}

/** The proxy's egress proxy, when its Sidecar sets one and the effective mode is ALLOW_ANY. */
export function egressProxyFor(push: PushContext, proxy: Proxy): EgressProxy | undefined {
  if (proxy.type !== 'sidecar') return undefined;
  const scope = sidecarScopeFor(push, proxy);
  if (scope.outboundTrafficPolicy !== 'ALLOW_ANY') return undefined;
  const ep = scope.sidecar?.spec?.outboundTrafficPolicy?.egressProxy;
  const host = typeof ep?.host === 'string' ? ep.host : undefined;
  const port = Number(ep?.port?.number);
  if (!host || !(port > 0)) return undefined;
  const subset = typeof ep.subset === 'string' && ep.subset ? ep.subset : undefined;
  return { cluster: clusterName('outbound', port, subset, host), host, port, subset };
}

/** Where the catch-all for unknown destinations points under ALLOW_ANY. */
export function allowAnyCluster(push: PushContext, proxy: Proxy, fallback: string): string {
  return egressProxyFor(push, proxy)?.cluster ?? fallback;
}

/**
 * The egress proxy's cluster, built even when the Sidecar's egress hosts do not import its
 * service (the catch-all must not point at a cluster the proxy lacks). Undefined when the host,
 * port or subset names nothing the registry knows: the catch-all then fails as Istio's does
 * (no cluster: 503 NC for HTTP, closed connection for TCP), and validation warns.
 */
export function egressProxyCluster(push: PushContext, proxy: Proxy): EnvoyJson | undefined {
  const ep = egressProxyFor(push, proxy);
  if (!ep) return undefined;
  const svc = pushIndex(push).servicesByHost.get(ep.host);
  const port = svc?.ports.find((p) => p.port === ep.port);
  if (!svc || !port) return undefined;
  return buildOutboundCluster(push, proxy, svc, port, ep.subset);
}
