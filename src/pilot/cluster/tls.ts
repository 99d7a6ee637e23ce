/**
 * Upstream TLS for clusters: DestinationRule `tls` (DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL) and
 * auto mTLS, turned into Envoy's envoy.transport_sockets.tls with an UpstreamTlsContext.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { TRANSPORT_SOCKET } from '../../xds/type_urls.ts';
import type { Proxy, PushContext } from '../types.ts';

const UPSTREAM_TLS = TRANSPORT_SOCKET.UPSTREAM_TLS;
const RAW_BUFFER = TRANSPORT_SOCKET.RAW_BUFFER;

/** Istio's SDS secret names: the workload's certificate and the mesh root of trust. */
export const SDS_DEFAULT = 'default';
export const SDS_ROOTCA = 'ROOTCA';
/** The bootstrap's cluster that reaches the agent's SDS server (a Unix socket beside the proxy). */
export const SDS_CLUSTER = 'sds-grpc';
/** Debian's CA bundle, Istio's default root set for SIMPLE / MUTUAL origination. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** ALPN Istio's sidecars offer on mesh mTLS, so the inbound side can tell mesh traffic apart. */
export const ISTIO_ALPN = ['istio-peer-exchange', 'istio'];

/** An SDS reference served by the control plane on the ADS stream (gateway credentialName secrets). */
export function sdsSecret(name: string): EnvoyJson {
  if (name === SDS_DEFAULT || name === SDS_ROOTCA) return agentSdsSecret(name);
  return { name, sds_config: { ads: {}, resource_api_version: 'V3' } };
}

/**
 * The workload's own certificate and root come from its agent, never from the control plane
 * (the private key does not leave the pod): Istio's reference to the `sds-grpc` cluster. No
 * initial fetch timeout: a listener waits for its certificate rather than serve without it.
 */
export function agentSdsSecret(name: string): EnvoyJson {
  return {
    name,
    sds_config: {
      api_config_source: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }],
        set_node_on_first_message_only: true,
      },
      initial_fetch_timeout: '0s',
      resource_api_version: 'V3',
    },
  };
}

/**
 * Whether mesh mTLS may be offered implicitly (auto mTLS, PERMISSIVE's mTLS chain) to and by this
 * proxy: the control plane runs a CA and the proxy's agent holds a certificate from it.
 */
export function hasWorkloadCertificates(push: PushContext, proxy: Proxy): boolean {
  return push.workloadCertificates !== false && proxy.workloadCertificates !== false;
}

/** Context for a cluster's TLS: who we expect on the other side and what SNI to send. */
export interface TlsTarget {
  host: string;
  port: number;
  subset?: string;
  /** SPIFFE identities of the destination's workloads (for ISTIO_MUTUAL SAN checks). */
  identities: string[];
  /** The cluster speaks HTTP/2 upstream: mesh mTLS then also offers ALPN h2, as Istio does. */
  h2?: boolean;
}

/** Istio's SNI for mesh mTLS: `outbound_.<port>_.<subset>_.<host>`. */
export function istioSni(t: TlsTarget): string {
  return `outbound_.${t.port}_.${t.subset ?? ''}_.${t.host}`;
}

/** The transport socket for a DestinationRule `tls` block; undefined for DISABLE or no TLS. */
export function tlsTransportSocket(tls: Record<string, any> | undefined, t: TlsTarget): EnvoyJson | undefined {
  const mode = tls?.mode;
  if (!tls || !mode || mode === 'DISABLE') return undefined;
  if (mode === 'ISTIO_MUTUAL') return istioMutualSocket(t, tls.sni, tls.subjectAltNames);
  const common: EnvoyJson = {};
  if (mode === 'MUTUAL') {
    if (tls.credentialName) common.tls_certificate_sds_secret_configs = [sdsSecret(tls.credentialName)];
    else if (tls.clientCertificate || tls.privateKey) {
      common.tls_certificates = [{ certificate_chain: { filename: tls.clientCertificate }, private_key: { filename: tls.privateKey } }];
    }
  }
  if (!tls.insecureSkipVerify) {
    const validation: EnvoyJson = {};
    // Like Istio (VERIFY_CERTIFICATE_AT_CLIENT), verify against the OS roots when no CA is named.
    if (tls.caCertificates) validation.trusted_ca = { filename: tls.caCertificates };
    else if (!tls.credentialName) validation.trusted_ca = { filename: SYSTEM_CA_BUNDLE };
    const sans: string[] = tls.subjectAltNames ?? [];
    if (sans.length > 0) validation.match_typed_subject_alt_names = sans.map(sanMatcher);
    if (tls.credentialName && !tls.caCertificates) common.validation_context_sds_secret_config = sdsSecret(`${tls.credentialName}-cacert`);
    else if (Object.keys(validation).length > 0) common.validation_context = validation;
  }
  // Without an explicit sni, send the service host (what a client originating TLS would do).
  return socket({ '@type': UPSTREAM_TLS, common_tls_context: common, sni: tls.sni ?? t.host });
}

/** Mesh mTLS with the workload certificate and root from SDS, checking the peer's SPIFFE id. */
export function istioMutualSocket(t: TlsTarget, sni?: string, sans?: string[]): EnvoyJson {
  const ids = sans && sans.length > 0 ? sans : t.identities;
  const defaultValidation: EnvoyJson = ids.length > 0 ? { match_typed_subject_alt_names: ids.map(sanMatcher) } : {};
  return socket({
    '@type': UPSTREAM_TLS,
    common_tls_context: {
      tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' },
      // The server's side offers h2 and http/1.1: without h2 here an HTTP/2 cluster would agree
      // on no protocol, and the peer would read its connection as HTTP/1.1.
      alpn_protocols: t.h2 ? [...ISTIO_ALPN, 'h2'] : ISTIO_ALPN,
      tls_certificate_sds_secret_configs: [sdsSecret(SDS_DEFAULT)],
      combined_validation_context: { default_validation_context: defaultValidation, validation_context_sds_secret_config: sdsSecret(SDS_ROOTCA) },
    },
    sni: sni ?? istioSni(t),
  });
}

/**
 * Auto mTLS (meshConfig.enableAutoMtls): endpoints labelled tlsMode=istio get mesh mTLS, the rest
 * plaintext. EDS marks the former with metadata `envoy.transport_socket_match: {tlsMode: istio}`.
 */
export function autoMtlsMatches(t: TlsTarget): EnvoyJson[] {
  return [
    { name: 'tlsMode-istio', match: { tlsMode: 'istio' }, transport_socket: istioMutualSocket(t) },
    { name: 'tlsMode-disabled', match: {}, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': RAW_BUFFER } } },
  ];
}

function socket(typedConfig: EnvoyJson): EnvoyJson {
  return { name: 'envoy.transport_sockets.tls', typed_config: typedConfig };
}

function sanMatcher(san: string): EnvoyJson {
  return san.startsWith('spiffe://') ? { san_type: 'URI', matcher: { exact: san } } : { san_type: 'DNS', matcher: { exact: san } };
}
