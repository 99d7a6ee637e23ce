/**
 * Clusters for traffic into the workload and the fixed ones every sidecar has
 * (PassthroughCluster, BlackHoleCluster, InboundPassthroughCluster).
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { inboundPortsFor } from '../sidecar_ingress.ts';
import { socketAddress } from '../util.ts';
import { DEFAULT_APP_ADDRESS } from '../interception.ts';
import { BLACKHOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, clusterName } from './name.ts';
import { DEFAULT_CONNECT_TIMEOUT, HTTP_PROTOCOL_OPTIONS } from './policy.ts';
import { isHttp2Protocol } from '../protocol.ts';
import { CLUSTER_EXT } from '../../xds/type_urls.ts';

/** Where inbound traffic is handed to the application unless TSMESH_APP_ADDRESS says otherwise. */
export const INBOUND_APP_ADDRESS = DEFAULT_APP_ADDRESS;
/** Source address Istio binds for inbound passthrough, so capture rules can skip it. */
export const INBOUND_PASSTHROUGH_BIND_ADDRESS = '127.0.0.6';

export const NO_LIMITS = { thresholds: [{ max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295, track_remaining: true }] };

/**
 * `inbound|<targetPort>||` per port the workload serves. Istio uses ORIGINAL_DST to the pod IP;
 * tsmesh uses STATIC <app address>:<targetPort> (127.0.0.1 unless TSMESH_APP_ADDRESS is set),
 * which also works without iptables capture. A Sidecar ingress listener's cluster dials its
 * defaultEndpoint instead.
 */
export function buildInboundClusters(push: PushContext, proxy: Proxy): EnvoyJson[] {
  return inboundPortsFor(push, proxy).map(({ target: t, endpoint }) => {
    const name = clusterName('inbound', t.targetPort, undefined, '');
    const cluster: EnvoyJson = {
      name,
      type: 'STATIC',
      connect_timeout: DEFAULT_CONNECT_TIMEOUT,
      lb_policy: 'ROUND_ROBIN',
      circuit_breakers: NO_LIMITS,
      load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(endpoint.address, endpoint.port) } }] }] },
      metadata: { filter_metadata: { istio: { services: [{ host: t.service.hostname, name: t.service.name, namespace: t.service.namespace }] } } },
    };
    // As Istio: an http2/grpc port's app speaks HTTP/2 (a gRPC server accepts nothing else).
    if (isHttp2Protocol(t.port.protocol)) {
      cluster.typed_extension_protocol_options = {
        [HTTP_PROTOCOL_OPTIONS]: { '@type': CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS, explicit_http_config: { http2_protocol_options: {} } },
      };
    }
    return cluster;
  });
}

/** Traffic to unknown destinations under ALLOW_ANY goes where it was headed. */
export function passthroughCluster(): EnvoyJson {
  return {
    name: PASSTHROUGH_CLUSTER,
    type: 'ORIGINAL_DST',
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    lb_policy: 'CLUSTER_PROVIDED',
    circuit_breakers: NO_LIMITS,
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS]: {
        '@type': CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS,
        use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
      },
    },
  };
}

/** A cluster with no endpoints: connections to it fail, which is the point under REGISTRY_ONLY. */
export function blackHoleCluster(): EnvoyJson {
  return { name: BLACKHOLE_CLUSTER, type: 'STATIC', connect_timeout: DEFAULT_CONNECT_TIMEOUT };
}

/** Inbound traffic to ports no service declares is passed to the original destination. */
export function inboundPassthroughCluster(): EnvoyJson {
  return {
    name: INBOUND_PASSTHROUGH_CLUSTER,
    type: 'ORIGINAL_DST',
    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
    lb_policy: 'CLUSTER_PROVIDED',
    circuit_breakers: NO_LIMITS,
    upstream_bind_config: { source_address: { address: INBOUND_PASSTHROUGH_BIND_ADDRESS, port_value: 0 } },
  };
}
