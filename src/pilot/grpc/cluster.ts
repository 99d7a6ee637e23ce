/**
 * Clusters for proxyless gRPC clients: the outbound cluster builder's output (ROUND_ROBIN, no
 * Envoy-only fields) plus the client side of mesh mTLS in the shape gRPC reads (grpc/tls.ts),
 * and outlier detection / consistent hashing in the forms gRPC enforces (grpc/resilience.ts).
 *
 * When TLS is used (Istio's grpcgen applyTLS, extended with auto mTLS):
 * - DestinationRule ISTIO_MUTUAL: mesh mTLS, checking the server's SPIFFE id against the
 *   destination's service accounts (or the rule's subjectAltNames).
 * - DestinationRule SIMPLE / MUTUAL: gRPC can only take certificates from its bootstrap's
 *   providers, so Envoy's form of the context is sent and gRPC NACKs it naming the field: the
 *   client fails closed instead of calling in plaintext what the rule says must be TLS.
 * - No DestinationRule TLS, auto mTLS on, the client's agent holds a certificate (node metadata
 *   TSMESH_WORKLOAD_CERTIFICATES), and every endpoint of the cluster is labelled tlsMode=istio:
 *   mesh mTLS. gRPC has no transport_socket_matches, so one cluster is all-mTLS or all-plaintext;
 *   a cluster mixing both stays plaintext (the sidecar-less endpoints would refuse mTLS).
 */
import type { Service, ServicePort } from '../../registry/model.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { parseClusterName } from '../cluster/name.ts';
import { buildOutboundCluster, buildOutboundClusters, identities } from '../cluster/outbound.ts';
import { hasWorkloadCertificates, tlsTransportSocket } from '../cluster/tls.ts';
import { destinationRuleFor, trafficPolicyFor } from '../destination_rule.ts';
import { endpointsFor } from '../endpoint.ts';
import { pushIndex } from '../push_context.ts';
import { labelsMatch } from '../util.ts';
import { servicesForProxy } from '../visibility.ts';
import { grpcUpstreamTlsSocket } from './tls.ts';
import { applyGrpcResilience } from './resilience.ts';

/** The clusters asked for by name (unknown or invisible ones left out), or every visible one. */
export function buildGrpcClusters(push: PushContext, proxy: Proxy, names?: string[]): EnvoyJson[] {
  const visible = servicesForProxy(push, proxy);
  if (!names) return buildOutboundClusters(push, proxy, visible, { grpc: true }).map((c) => forGrpc(push, proxy, c));
  const out: EnvoyJson[] = [];
  for (const name of names) {
    const p = parseClusterName(name);
    if (!p || p.direction !== 'outbound') continue;
    const svc = pushIndex(push).servicesByHost.get(p.host);
    const port = svc?.ports.find((x) => x.port === p.port);
    if (!svc || !port || !visible.includes(svc)) continue;
    const c = buildOutboundCluster(push, proxy, svc, port, p.subset || undefined, { grpc: true });
    if (c) out.push(forGrpc(push, proxy, c, svc, port, p.subset || undefined));
  }
  return out;
}

/** The sidecar's cluster made a gRPC client's: TLS as gRPC reads it, resilience as gRPC enforces it. */
function forGrpc(push: PushContext, proxy: Proxy, cluster: EnvoyJson, svc?: Service, port?: ServicePort, subset?: string): EnvoyJson {
  applyGrpcResilience(cluster);
  if (!svc || !port) {
    const p = parseClusterName(cluster.name)!;
    svc = pushIndex(push).servicesByHost.get(p.host)!;
    port = svc.ports.find((x) => x.port === p.port)!;
    subset = p.subset || undefined;
  }
  const socket = grpcTransportSocket(push, proxy, cluster, svc, port, subset);
  if (socket) cluster.transport_socket = socket;
  return cluster;
}

/** The transport socket a gRPC client's cluster gets, or undefined for plaintext. */
export function grpcTransportSocket(push: PushContext, proxy: Proxy, cluster: EnvoyJson, svc: Service, port: ServicePort, subset?: string): EnvoyJson | undefined {
  const dr = destinationRuleFor(push, proxy, svc.hostname);
  const tls = trafficPolicyFor(dr, port.port, subset).tls;
  const ids = () => identities(push, svc, port.port);
  if (tls?.mode === 'ISTIO_MUTUAL') return grpcUpstreamTlsSocket(tls.subjectAltNames?.length ? tls.subjectAltNames : ids());
  if (tls) return tlsTransportSocket(tls, { host: svc.hostname, port: port.port, subset, identities: ids() });
  if (!push.mesh.enableAutoMtls || !hasWorkloadCertificates(push, proxy) || svc.meshExternal || cluster.type !== 'EDS') return undefined;
  const subsetLabels = subset ? (dr?.subsets.find((s) => s.name === subset)?.labels ?? {}) : {};
  const endpoints = endpointsFor(push, svc, port.port).filter((e) => labelsMatch(subsetLabels, e.labels));
  if (endpoints.length === 0 || !endpoints.every((e) => e.tlsModeIstio)) return undefined;
  return grpcUpstreamTlsSocket(ids());
}
