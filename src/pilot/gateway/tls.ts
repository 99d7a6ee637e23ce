/**
 * A gateway server's `tls` block → Envoy DownstreamTlsContext (Istio's buildGatewayListenerTLSContext).
 *
 * - Certificate files (serverCertificate / privateKey / caCertificates) go in as Envoy `filename`
 *   data sources, read by the router from its own disk.
 * - credentialName becomes an SDS reference by that name (and `<name>-cacert` for the client CA),
 *   served on the ADS stream. Istio's gateway fetches these from Kubernetes Secrets; tsmesh has no
 *   Secret reader yet, so whatever serves SECRET on the stream must provide them.
 * - ISTIO_MUTUAL uses the mesh identity like sidecars: SDS `default` and `ROOTCA`.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { SDS_DEFAULT, SDS_ROOTCA, sdsSecret } from '../cluster/tls.ts';
import type { ServerTLSSettings } from '../../api/networking.ts';
import { TRANSPORT_SOCKET } from '../../xds/type_urls.ts';

export const DOWNSTREAM_TLS_CONTEXT = TRANSPORT_SOCKET.DOWNSTREAM_TLS;

/** ALPN an HTTPS server offers, so clients can pick HTTP/2. */
const HTTPS_ALPN = ['h2', 'http/1.1'];

/** Istio's TLSV1_2 spelling → Envoy's TLSv1_2. */
const TLS_VERSIONS: Record<string, string> = {
  TLS_AUTO: 'TLS_AUTO',
  TLSV1_0: 'TLSv1_0',
  TLSV1_1: 'TLSv1_1',
  TLSV1_2: 'TLSv1_2',
  TLSV1_3: 'TLSv1_3',
};

/** Istio's documented gateway default: TLS 1.2 at least unless the server says otherwise. */
const DEFAULT_MIN_VERSION = 'TLSv1_2';

/** The transport_socket of a TLS-terminating server chain. `http` adds ALPN h2/http1.1. */
export function downstreamTlsSocket(tls: ServerTLSSettings, http: boolean): EnvoyJson {
  return { name: 'envoy.transport_sockets.tls', typed_config: downstreamTlsContext(tls, http) };
}

export function downstreamTlsContext(tls: ServerTLSSettings, http: boolean): EnvoyJson {
  const mode = tls.mode ?? 'SIMPLE';
  const common: EnvoyJson = {};
  if (http) common.alpn_protocols = HTTPS_ALPN;
  common.tls_params = tlsParams(tls);
  if (mode === 'ISTIO_MUTUAL') {
    common.tls_certificate_sds_secret_configs = [sdsSecret(SDS_DEFAULT)];
    common.combined_validation_context = { default_validation_context: validation(tls) ?? {}, validation_context_sds_secret_config: sdsSecret(SDS_ROOTCA) };
    return { '@type': DOWNSTREAM_TLS_CONTEXT, common_tls_context: common, require_client_certificate: true };
  }
  if (tls.credentialName) {
    common.tls_certificate_sds_secret_configs = [sdsSecret(tls.credentialName)];
  } else if (tls.serverCertificate || tls.privateKey) {
    common.tls_certificates = [{ certificate_chain: { filename: tls.serverCertificate }, private_key: { filename: tls.privateKey } }];
  }
  const verifiesClient = mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  if (verifiesClient) {
    const v = validation(tls) ?? {};
    if (tls.caCertificates) {
      v.trusted_ca = { filename: tls.caCertificates };
      if (tls.caCrl) v.crl = { filename: tls.caCrl };
      common.validation_context = v;
    } else if (tls.credentialName) {
      // Istio's convention: the client CA of secret X lives in X-cacert.
      common.combined_validation_context = { default_validation_context: v, validation_context_sds_secret_config: sdsSecret(`${tls.credentialName}-cacert`) };
    } else if (Object.keys(v).length > 0) {
      common.validation_context = v;
    }
  }
  return { '@type': DOWNSTREAM_TLS_CONTEXT, common_tls_context: common, require_client_certificate: mode === 'MUTUAL' };
}

function tlsParams(tls: ServerTLSSettings): EnvoyJson {
  const p: EnvoyJson = { tls_minimum_protocol_version: TLS_VERSIONS[tls.minProtocolVersion ?? ''] ?? DEFAULT_MIN_VERSION };
  const max = TLS_VERSIONS[tls.maxProtocolVersion ?? ''];
  if (max) p.tls_maximum_protocol_version = max;
  if (tls.cipherSuites?.length) p.cipher_suites = tls.cipherSuites;
  return p;
}

/** Client certificate checks beyond the CA: SANs, SPKI pins, certificate hashes. */
function validation(tls: ServerTLSSettings): EnvoyJson | undefined {
  const v: EnvoyJson = {};
  if (tls.subjectAltNames?.length) {
    v.match_typed_subject_alt_names = tls.subjectAltNames.map((san) => ({ san_type: san.startsWith('spiffe://') ? 'URI' : 'DNS', matcher: { exact: san } }));
  }
  if (tls.verifyCertificateSpki?.length) v.verify_certificate_spki = tls.verifyCertificateSpki;
  if (tls.verifyCertificateHash?.length) v.verify_certificate_hash = tls.verifyCertificateHash;
  return Object.keys(v).length > 0 ? v : undefined;
}
