/**
 * The filter chains that terminate traffic for one workload port: an mTLS chain and/or a
 * plaintext chain as PeerAuthentication asks, each ending in HCM (inline route to the inbound
 * cluster) for HTTP ports or tcp_proxy otherwise. virtualInbound (15006) puts them behind a
 * destination_port match; NONE mode puts them on a listener bound to the port itself.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { clusterName } from '../cluster/name.ts';
import { hasWorkloadCertificates, ISTIO_ALPN, SDS_DEFAULT, SDS_ROOTCA, sdsSecret } from '../cluster/tls.ts';
import { isHttpProtocol } from '../protocol.ts';
import { buildInboundRouteConfiguration } from '../route/index.ts';
import type { ServiceTarget } from '../workload.ts';
import { httpConnectionManager, httpFilter, tcpProxy } from './filters.ts';
import { hcmTracing } from './tracing.ts';
import { mtlsModeFor } from './peer_authentication.ts';
import { TRANSPORT_SOCKET } from '../../xds/type_urls.ts';
import { withAuthorization } from '../authz/apply.ts';

export interface InboundChainOptions {
  /** Add `destination_port` to each chain's match (virtualInbound only). */
  matchPort: boolean;
  /** The listener address in the HCM stat prefix (`inbound_<address>_<port>`). */
  statAddress: string;
}

/** mTLS chain (unless DISABLE) then plaintext chain (unless STRICT) for one target port. */
export function inboundFilterChains(push: PushContext, proxy: Proxy, t: ServiceTarget, o: InboundChainOptions): EnvoyJson[] {
  const mode = mtlsModeFor(push, proxy, t.targetPort);
  const filters = withAuthorization(push, proxy, [{ filters: inboundFilters(push, proxy, t, o.statAddress) }])[0]!.filters as EnvoyJson[];
  const portMatch = o.matchPort ? { destination_port: t.targetPort } : {};
  const name = clusterName('inbound', t.targetPort, undefined, '');
  const chains: EnvoyJson[] = [];
  // PERMISSIVE offers mTLS only when certificates can be had; STRICT asked for it explicitly.
  const offerMtls = mode === 'STRICT' || (mode === 'PERMISSIVE' && hasWorkloadCertificates(push, proxy));
  if (offerMtls) {
    // Istio matches its ALPN only where mTLS shares the port with something else (PERMISSIVE:
    // plaintext, or an app's own TLS); under STRICT any TLS client is held to mTLS by this chain
    // (Istio's inboundStrict*FilterChainMatchOptions), instead of finding no chain at all.
    const alpn = mode === 'STRICT' ? {} : { application_protocols: ISTIO_ALPN };
    chains.push({
      name: `${name}-mtls`,
      filter_chain_match: { ...portMatch, transport_protocol: 'tls', ...alpn },
      transport_socket: downstreamMtls(isHttpProtocol(t.port.protocol)),
      filters,
    });
  }
  if (mode !== 'STRICT') chains.push({ name, filter_chain_match: { ...portMatch, transport_protocol: 'raw_buffer' }, filters });
  return chains;
}

/** HCM with an inline route to the inbound cluster for HTTP ports; tcp_proxy otherwise. */
function inboundFilters(push: PushContext, proxy: Proxy, t: ServiceTarget, statAddress: string): EnvoyJson[] {
  const cluster = clusterName('inbound', t.targetPort, undefined, '');
  if (!isHttpProtocol(t.port.protocol)) return [tcpProxy(cluster, cluster, push.mesh)];
  const routeConfig = buildInboundRouteConfiguration(proxy, t.targetPort, cluster, t.service.hostname);
  return [httpConnectionManager({ statPrefix: `inbound_${statAddress}_${t.targetPort}`, routeConfig, httpFilters: [httpFilter('envoy.filters.http.router')], mesh: push.mesh, inbound: true, tracing: hcmTracing(push, proxy, 'SERVER') })];
}

/**
 * meshConfig.meshMTLS's default TLS 1.2 suites, Istio's list (TLS 1.3 suites are not configurable):
 * AEAD only, nothing CBC, RC4, 3DES or export-grade.
 */
const MESH_MTLS_CIPHERS = ['ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-GCM-SHA256'];

/** Server side of mesh mTLS: workload cert + root from SDS, client certificate required. */
function downstreamMtls(http: boolean): EnvoyJson {
  const common: EnvoyJson = {
    tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3', cipher_suites: MESH_MTLS_CIPHERS },
    tls_certificate_sds_secret_configs: [sdsSecret(SDS_DEFAULT)],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://' } }] },
      validation_context_sds_secret_config: sdsSecret(SDS_ROOTCA),
    },
  };
  if (http) common.alpn_protocols = ['h2', 'http/1.1'];
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': TRANSPORT_SOCKET.DOWNSTREAM_TLS, common_tls_context: common, require_client_certificate: true },
  };
}
