/**
 * Mesh mTLS for the proxy bench's two-sidecar hop: workload certificates signed by tsmesh's own
 * CA (src/ca, a throwaway state dir), and the transport sockets the two sidecars get from pilot
 * for ISTIO_MUTUAL, with the certificate and root inline instead of over SDS (the agent/SDS path
 * is tested elsewhere; a static bootstrap keeps the bench free of a control plane).
 */
import { join } from 'node:path';
import { CertificateAuthority } from '../../src/ca/authority.ts';
import { splitPemCertificates } from '../../src/ca/keys.ts';
import { spiffeId, type WorkloadIdentity } from '../../src/ca/spiffe.ts';
import { createWorkloadCsr } from '../../src/agent/csr.ts';
import { istioMutualSocket } from '../../src/pilot/cluster/tls.ts';
import { TRANSPORT_SOCKET } from '../../src/xds/type_urls.ts';
import type { EnvoyJson } from '../../src/xds/types.ts';

export interface WorkloadCert {
  spiffeId: string;
  /** The leaf and any intermediates, as the workload presents them. */
  chainPem: string;
  keyPem: string;
  /** Every root the mesh trusts. */
  rootPem: string;
}

/** A CA in `<dir>/ca-state` and one workload certificate per identity, from a CSR made as the agent makes it. */
export async function mintWorkloadCerts(dir: string, identities: WorkloadIdentity[]): Promise<WorkloadCert[]> {
  const ca = await CertificateAuthority.load({ stateDir: join(dir, 'ca-state') });
  const roots = splitPemCertificates(ca.rootsPem()).length;
  const out: WorkloadCert[] = [];
  for (const id of identities) {
    const uri = spiffeId(ca.trustDomain, id);
    const { csrPem, keyPem } = await createWorkloadCsr(uri);
    const chain = await ca.sign(csrPem, id);
    out.push({ spiffeId: uri, chainPem: chain.slice(0, chain.length - roots).join(''), keyPem, rootPem: ca.rootsPem() });
  }
  return out;
}

/**
 * The client sidecar's side (hop 1): pilot's ISTIO_MUTUAL UpstreamTlsContext (TLS 1.2-1.3, SNI,
 * the server's SPIFFE ID as the only accepted SAN) with the SDS secrets replaced by inline PEM.
 * ALPN names the codec, as Envoy's per-upstream ALPN override does (istio-http/1.1, istio-h2).
 */
export function upstreamMtls(cert: WorkloadCert, peer: string, host: string, port: number, codec: 'http/1.1' | 'h2'): EnvoyJson {
  const socket = istioMutualSocket({ host, port, identities: [peer] });
  const common = socket.typed_config.common_tls_context;
  delete common.tls_certificate_sds_secret_configs;
  delete common.combined_validation_context.validation_context_sds_secret_config;
  common.tls_certificates = [{ certificate_chain: { inline_string: cert.chainPem }, private_key: { inline_string: cert.keyPem } }];
  common.combined_validation_context.default_validation_context.trusted_ca = { inline_string: cert.rootPem };
  common.alpn_protocols = [codec];
  return socket;
}

/** Istio's mesh mTLS TLS 1.2 suites (AEAD only), as pilot's inbound chain pins them. */
const MESH_MTLS_CIPHERS = ['ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-GCM-SHA256'];

/**
 * The server sidecar's side (hop 2): pilot's STRICT inbound DownstreamTlsContext — client
 * certificate required, chained to the mesh root and carrying a SPIFFE URI — with inline PEM.
 */
export function downstreamMtls(cert: WorkloadCert): EnvoyJson {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': TRANSPORT_SOCKET.DOWNSTREAM_TLS,
      require_client_certificate: true,
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3', cipher_suites: MESH_MTLS_CIPHERS },
        alpn_protocols: ['h2', 'http/1.1'],
        tls_certificates: [{ certificate_chain: { inline_string: cert.chainPem }, private_key: { inline_string: cert.keyPem } }],
        combined_validation_context: {
          default_validation_context: { trusted_ca: { inline_string: cert.rootPem }, match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { prefix: 'spiffe://' } }] },
        },
      },
    },
  };
}
