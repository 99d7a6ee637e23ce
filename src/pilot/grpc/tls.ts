/**
 * Mesh mTLS for proxyless gRPC (gRFC A29): gRPC has no SDS; it reads its certificate and root
 * from the bootstrap's `certificate_providers`, which the agent fills with a `file_watcher`
 * instance named `default` over the files it keeps rotated. TLS contexts name that instance.
 *
 * Two generations of fields name it, and gRPC libraries read one or the other:
 * - current (what @grpc/grpc-js-xds reads; without them it NACKs the cluster or, on the server,
 *   does not ask the client for a certificate): `tls_certificate_provider_instance` and
 *   `CertificateValidationContext.ca_certificate_provider_instance`;
 * - deprecated (what Istio's grpcgen writes, read by older gRPC libraries):
 *   `tls_certificate_certificate_provider_instance` and
 *   `combined_validation_context.validation_context_certificate_provider_instance`.
 * Both are written; each library ignores the other's. No `tls_params` and no ALPN: gRPC NACKs
 * tls_params, and negotiates h2 itself.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { TRANSPORT_SOCKET } from '../../xds/type_urls.ts';
import { SDS_DEFAULT, SDS_ROOTCA } from '../cluster/tls.ts';

/** The bootstrap's certificate provider instance the agent writes. */
export const GRPC_CERT_PROVIDER_INSTANCE = 'default';
/** The transport socket name gRPC servers require (anything else is NACKed). */
export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';

/**
 * CommonTlsContext with the workload certificate and the mesh root from the `default` provider;
 * `sans` (exact SPIFFE ids) is what a client checks the server's certificate against.
 */
export function grpcCommonTlsContext(sans: string[] = []): EnvoyJson {
  const defaultValidation: EnvoyJson = {
    ca_certificate_provider_instance: { instance_name: GRPC_CERT_PROVIDER_INSTANCE, certificate_name: SDS_ROOTCA },
  };
  // gRPC reads match_subject_alt_names (A29), not the typed variant Envoy prefers.
  if (sans.length > 0) defaultValidation.match_subject_alt_names = sans.map((exact) => ({ exact }));
  return {
    tls_certificate_provider_instance: { instance_name: GRPC_CERT_PROVIDER_INSTANCE, certificate_name: SDS_DEFAULT },
    tls_certificate_certificate_provider_instance: { instance_name: GRPC_CERT_PROVIDER_INSTANCE, certificate_name: SDS_DEFAULT },
    combined_validation_context: {
      default_validation_context: defaultValidation,
      validation_context_certificate_provider_instance: { instance_name: GRPC_CERT_PROVIDER_INSTANCE, certificate_name: SDS_ROOTCA },
    },
  };
}

/** A cluster's transport socket for mesh mTLS to a destination whose identities are `sans`. */
export function grpcUpstreamTlsSocket(sans: string[]): EnvoyJson {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: { '@type': TRANSPORT_SOCKET.UPSTREAM_TLS, common_tls_context: grpcCommonTlsContext(sans) },
  };
}

/**
 * A server filter chain's transport socket for mesh mTLS: the client must present a certificate
 * that chains to the mesh root. Any mesh identity is accepted here; who may call what is
 * AuthorizationPolicy's job (gRPC does not check SANs on the server side). The root goes in a
 * plain `validation_context`: grpc-js-xds 1.14 compares a combined one against the other
 * listener's plain one, so with combined an unchanged listener would never look unchanged.
 */
export function grpcDownstreamTlsSocket(): EnvoyJson {
  const provider = (certificate_name: string) => ({ instance_name: GRPC_CERT_PROVIDER_INSTANCE, certificate_name });
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: {
      '@type': TRANSPORT_SOCKET.DOWNSTREAM_TLS,
      common_tls_context: {
        tls_certificate_provider_instance: provider(SDS_DEFAULT),
        tls_certificate_certificate_provider_instance: provider(SDS_DEFAULT),
        validation_context: { ca_certificate_provider_instance: provider(SDS_ROOTCA) },
      },
      require_client_certificate: true,
    },
  };
}
