/**
 * Outbound clusters: `outbound|<port>||<host>` per visible service port and
 * `outbound|<port>|<subset>|<host>` per DestinationRule subset (Istio's buildOutboundClusters).
 */
import type { Service, ServicePort } from '../../registry/model.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { destinationRuleFor, trafficPolicyFor } from '../destination_rule.ts';
import { buildLoadAssignment, endpointsFor } from '../endpoint.ts';
import { adsConfigSource } from '../util.ts';
import { clusterName } from './name.ts';
import { DEFAULT_CONNECT_TIMEOUT, HTTP_PROTOCOL_OPTIONS, applyTrafficPolicy } from './policy.ts';
import { applyHealthCheck } from './health_check.ts';
import { autoMtlsMatches, hasWorkloadCertificates, tlsTransportSocket, type TlsTarget } from './tls.ts';
import { isHttp2Protocol, isHttpProtocol } from '../protocol.ts';
import { withMeshLocalityLb } from '../locality_lb.ts';
import { isNoneMode } from '../interception.ts';

export interface OutboundOptions {
  /** Proxyless gRPC: ROUND_ROBIN default, no Envoy-only fields (transport sockets, DNS types). */
  grpc?: boolean;
}

/** Every outbound cluster for the given services (default plus subsets), unsorted. */
export function buildOutboundClusters(push: PushContext, proxy: Proxy, services: Service[], opts: OutboundOptions = {}): EnvoyJson[] {
  const out: EnvoyJson[] = [];
  for (const svc of services) {
    const dr = destinationRuleFor(push, proxy, svc.hostname);
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue; // Envoy clusters here are TCP only, as in Istio.
      out.push(buildOutboundCluster(push, proxy, svc, port, undefined, opts)!);
      for (const subset of dr?.subsets ?? []) {
        out.push(buildOutboundCluster(push, proxy, svc, port, subset.name, opts)!);
      }
    }
  }
  return out;
}

/** One outbound cluster; undefined when `subset` is named but no DestinationRule defines it. */
export function buildOutboundCluster(push: PushContext, proxy: Proxy, svc: Service, port: ServicePort, subset: string | undefined, opts: OutboundOptions = {}): EnvoyJson | undefined {
  const dr = destinationRuleFor(push, proxy, svc.hostname);
  if (subset && !dr?.subsets.some((s) => s.name === subset)) return undefined;
  const name = clusterName('outbound', port.port, subset, svc.hostname);
  const cluster: EnvoyJson = { name, connect_timeout: DEFAULT_CONNECT_TIMEOUT };
  setDiscoveryType(push, proxy, cluster, svc, opts);
  const policy = withMeshLocalityLb(trafficPolicyFor(dr, port.port, subset), push.mesh);
  applyTrafficPolicy(cluster, policy, {
    http: isHttpProtocol(port.protocol),
    http2: isHttp2Protocol(port.protocol),
    defaultLb: opts.grpc ? 'ROUND_ROBIN' : 'LEAST_REQUEST',
    // Proxyless gRPC clients have no retry budget to enforce.
    defaultRetryBudget: !opts.grpc && push.mesh.defaultRetryBudget !== false,
  });
  if (cluster.type === 'ORIGINAL_DST' && svc.resolution !== 'NONE' && isNoneMode(proxy)) noOriginalDestination(cluster);
  if (opts.grpc) {
    // gRPC accepts only ROUND_ROBIN / RING_HASH, no circuit breakers beyond max_requests
    // (MAGLEV is kept for grpc/resilience.ts, which makes it RING_HASH).
    if (cluster.lb_policy !== 'RING_HASH' && cluster.lb_policy !== 'MAGLEV') cluster.lb_policy = 'ROUND_ROBIN';
    delete cluster.typed_extension_protocol_options;
  } else {
    // gRPC clients have no active health checking; Envoy-shaped proxies do.
    applyHealthCheck(cluster, dr);
    const h2 = cluster.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.explicit_http_config?.http2_protocol_options !== undefined;
    const target: TlsTarget = { host: svc.hostname, port: port.port, subset, identities: identities(push, svc, port.port), h2 };
    const socket = tlsTransportSocket(policy.tls, target);
    if (socket) cluster.transport_socket = socket;
    else if (!policy.tls && push.mesh.enableAutoMtls && hasWorkloadCertificates(push, proxy) && !svc.meshExternal && cluster.type === 'EDS') {
      cluster.transport_socket_matches = autoMtlsMatches(target);
    }
  }
  const istio: EnvoyJson = {
    services: [{ host: svc.hostname, name: svc.name, namespace: svc.namespace }],
    default_original_port: port.port,
  };
  if (subset) istio.subset = subset;
  if (dr) istio.config = `/apis/networking.istio.io/v1/namespaces/${dr.namespace}/destination-rule/${dr.configs[0]!.metadata.name}`;
  cluster.metadata = { filter_metadata: { istio } };
  return cluster;
}

/**
 * DestinationRule `simple: PASSTHROUGH` for a sidecar without capture (INTERCEPTION_MODE NONE):
 * its connections were dialled to the proxy itself, so the "original destination" is the proxy
 * and ORIGINAL_DST would loop. No hosts instead: requests fail with 503 (no healthy upstream).
 */
function noOriginalDestination(cluster: EnvoyJson): void {
  cluster.type = 'STATIC';
  cluster.lb_policy = 'ROUND_ROBIN';
  cluster.load_assignment = { cluster_name: cluster.name, endpoints: [] };
}

/** EDS for registry services, DNS types with inline endpoints, ORIGINAL_DST for resolution NONE. */
function setDiscoveryType(push: PushContext, proxy: Proxy, cluster: EnvoyJson, svc: Service, opts: OutboundOptions): void {
  switch (svc.resolution) {
    case 'DNS':
    case 'DNS_ROUND_ROBIN': {
      // gRPC has LOGICAL_DNS only; Envoy spreads load over every address with STRICT_DNS.
      cluster.type = svc.resolution === 'DNS' && !opts.grpc ? 'STRICT_DNS' : 'LOGICAL_DNS';
      cluster.dns_lookup_family = 'V4_ONLY';
      cluster.respect_dns_ttl = true;
      cluster.load_assignment = buildLoadAssignment(push, proxy, cluster.name) ?? { cluster_name: cluster.name, endpoints: [] };
      break;
    }
    case 'NONE':
      cluster.type = 'ORIGINAL_DST';
      break;
    default:
      cluster.type = 'EDS';
      cluster.eds_cluster_config = { eds_config: adsConfigSource(), service_name: cluster.name };
  }
}

/** SPIFFE ids of the service's workloads, what ISTIO_MUTUAL checks the peer certificate against. */
export function identities(push: PushContext, svc: Service, port: number): string[] {
  const ids = new Set<string>();
  for (const e of endpointsFor(push, svc, port)) {
    if (!e.serviceAccount) continue;
    ids.add(e.serviceAccount.startsWith('spiffe://') ? e.serviceAccount : `spiffe://${push.mesh.trustDomain}/ns/${e.namespace}/sa/${e.serviceAccount}`);
  }
  return [...ids].sort();
}
