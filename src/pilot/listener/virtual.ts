/**
 * The two capture listeners: virtualOutbound (15001) hands redirected connections to the
 * per-port listener for their original destination, or to PassthroughCluster / BlackHoleCluster;
 * virtualInbound (15006) terminates traffic for the workload's own ports (mTLS per
 * PeerAuthentication) and passes anything else through.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { BLACKHOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, clusterName } from '../cluster/name.ts';
import { ISTIO_ALPN, SDS_DEFAULT, SDS_ROOTCA, sdsSecret } from '../cluster/tls.ts';
import { sidecarScopeFor } from '../visibility.ts';
import { serviceTargetsFor, uniqueTargetPorts, type ServiceTarget } from '../workload.ts';
import { socketAddress } from '../util.ts';
import { httpConnectionManager, httpFilter, originalDst, tcpProxy, tlsInspector } from './filters.ts';
import { mtlsModeFor } from './peer_authentication.ts';
import { buildInboundRouteConfiguration } from '../route/index.ts';

export const VIRTUAL_OUTBOUND = 'virtualOutbound';
export const VIRTUAL_INBOUND = 'virtualInbound';
export const OUTBOUND_CAPTURE_PORT = 15001;
export const INBOUND_CAPTURE_PORT = 15006;
const HTTP_FAMILY = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);

/** 0.0.0.0:15001, use_original_dst; unmatched traffic follows outboundTrafficPolicy. */
export function virtualOutboundListener(push: PushContext, proxy: Proxy): EnvoyJson {
  const registryOnly = sidecarScopeFor(push, proxy).outboundTrafficPolicy === 'REGISTRY_ONLY';
  const cluster = registryOnly ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER;
  return {
    name: VIRTUAL_OUTBOUND,
    address: socketAddress('0.0.0.0', OUTBOUND_CAPTURE_PORT),
    use_original_dst: true,
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ name: registryOnly ? 'virtualOutbound-blackhole' : 'virtualOutbound-catchall-tcp', filters: [tcpProxy(cluster, cluster, push.mesh)] }],
  };
}

/** 0.0.0.0:15006 with chains per workload port (by destination_port) plus a passthrough chain. */
export function virtualInboundListener(push: PushContext, proxy: Proxy): EnvoyJson {
  const chains: EnvoyJson[] = [];
  for (const t of uniqueTargetPorts(serviceTargetsFor(push, proxy))) {
    const mode = mtlsModeFor(push, proxy, t.targetPort);
    const filters = inboundFilters(push, proxy, t);
    if (mode !== 'DISABLE') {
      chains.push({
        name: `${clusterName('inbound', t.targetPort, undefined, '')}-mtls`,
        filter_chain_match: { destination_port: t.targetPort, transport_protocol: 'tls', application_protocols: ISTIO_ALPN },
        transport_socket: downstreamMtls(HTTP_FAMILY.has(t.port.protocol)),
        filters,
      });
    }
    if (mode !== 'STRICT') {
      chains.push({ name: clusterName('inbound', t.targetPort, undefined, ''), filter_chain_match: { destination_port: t.targetPort, transport_protocol: 'raw_buffer' }, filters });
    }
  }
  chains.push({ name: 'InboundPassthroughFilterChain', filters: [tcpProxy(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, push.mesh)] });
  return {
    name: VIRTUAL_INBOUND,
    address: socketAddress('0.0.0.0', INBOUND_CAPTURE_PORT),
    traffic_direction: 'INBOUND',
    listener_filters: [originalDst(), tlsInspector()],
    continue_on_listener_filters_timeout: true,
    filter_chains: chains,
  };
}

/** HCM with an inline route to the inbound cluster for HTTP ports; tcp_proxy otherwise. */
function inboundFilters(push: PushContext, proxy: Proxy, t: ServiceTarget): EnvoyJson[] {
  const cluster = clusterName('inbound', t.targetPort, undefined, '');
  if (!HTTP_FAMILY.has(t.port.protocol)) return [tcpProxy(cluster, cluster, push.mesh)];
  const routeConfig = buildInboundRouteConfiguration(proxy, t.targetPort, cluster, t.service.hostname);
  return [httpConnectionManager({ statPrefix: `inbound_0.0.0.0_${t.targetPort}`, routeConfig, httpFilters: [httpFilter('envoy.filters.http.router')], mesh: push.mesh, inbound: true })];
}

/** Server side of mesh mTLS: workload cert + root from SDS, client certificate required. */
function downstreamMtls(http: boolean): EnvoyJson {
  const common: EnvoyJson = {
    tls_certificate_sds_secret_configs: [sdsSecret(SDS_DEFAULT)],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://' } }] },
      validation_context_sds_secret_config: sdsSecret(SDS_ROOTCA),
    },
  };
  if (http) common.alpn_protocols = ['h2', 'http/1.1'];
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', common_tls_context: common, require_client_certificate: true },
  };
}
