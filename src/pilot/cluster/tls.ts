/**
 * Upstream TLS for clusters: DestinationRule `tls` (DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL) and
 * auto mTLS, turned into Envoy's envoy.transport_sockets.tls with an UpstreamTlsContext.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { TRANSPORT_SOCKET } from '../../xds/type_urls.ts';

const UPSTREAM_TLS = TRANSPORT_SOCKET.UPSTREAM_TLS;
const RAW_BUFFER = TRANSPORT_SOCKET.RAW_BUFFER;

/** Istio's SDS secret names: the workload's certificate and the mesh root of trust. */
export const SDS_DEFAULT = 'default';
export const SDS_ROOTCA = 'ROOTCA';
/** ALPN Istio's sidecars offer on mesh mTLS, so the inbound side can tell mesh traffic apart. */
/** Debian's CA bundle, Istio's default root set for SIMPLE / MUTUAL origination. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
export const ISTIO_ALPN = ['istio-peer-exchange', 'istio'];

/**
 * An SDS reference. tsmesh serves secrets on the same ADS stream (TYPE.SECRET is in PUSH_ORDER),
 * where Istio points at the agent's local `sds-grpc` cluster.
 */
export function sdsSecret(name: string): EnvoyJson {
  return { name, sds_config: { ads: {}, resource_api_version: 'V3' } };
}

/** Context for a cluster's TLS: who we expect on the other side and what SNI to send. */
export interface TlsTarget {
  host: string;
  port: number;
  subset?: string;
  /** SPIFFE identities of the destination's workloads (for ISTIO_MUTUAL SAN checks). */
  identities: string[];
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
      alpn_protocols: ISTIO_ALPN,
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
