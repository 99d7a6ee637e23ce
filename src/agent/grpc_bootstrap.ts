/**
 * The gRPC xDS bootstrap Istio's agent writes for proxyless gRPC (pkg/istio-agent/grpcxds):
 * xds_servers pointing at the control plane, the node as pilot knows it (the same id and
 * metadata as a sidecar's, from ./bootstrap.ts, plus GENERATOR=grpc so the control plane
 * answers with what gRPC understands), the `file_watcher` certificate provider `default` over the
 * agent's certificate files, and the server listener template `xds.istio.io/grpc/lds/inbound/%s`.
 * @grpc/grpc-js-xds reads it through GRPC_XDS_BOOTSTRAP; XdsChannelCredentials /
 * XdsServerCredentials then take their certificates from the provider.
 */
import { join } from 'node:path';
import type { EnvoyJson } from '../xds/types.ts';
import { buildNode, WORKLOAD_CERTIFICATES_META, type NodeOptions } from './bootstrap.ts';
import { CA_SERVER_NAME } from './ca_client.ts';
import { CERT_FILES } from './cert_files.ts';

/** Istio's listener name template for gRPC servers (the %s is the server's "ip:port"). */
export const SERVER_LISTENER_TEMPLATE = 'xds.istio.io/grpc/lds/inbound/%s';
/** The certificate provider instance name Istio's xDS for gRPC refers to. */
export const CERT_PROVIDER = 'default';
/** Istio's file_watcher refresh interval. */
export const REFRESH_INTERVAL_SECONDS = 900;

export interface GrpcBootstrapOptions {
  /** "host:port" of the control plane's xDS (plaintext, as Istio's agent proxies it). */
  discoveryAddress: string;
  node: NodeOptions;
  /** The directory of cert-chain.pem, key.pem and root-cert.pem; no provider without it. */
  certDir?: string;
  /** How often gRPC re-reads the files; keep it well under half the certificate lifetime. */
  refreshIntervalSeconds?: number;
}

export function buildGrpcBootstrap(o: GrpcBootstrapOptions): EnvoyJson {
  const node = buildNode({ ...o.node, metadata: { GENERATOR: 'grpc', PILOT_SAN: [CA_SERVER_NAME], [WORKLOAD_CERTIFICATES_META]: 'true', ...o.node.metadata } });
  return {
    xds_servers: [{ server_uri: o.discoveryAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { ...node, locality: {} },
    ...(o.certDir
      ? {
          certificate_providers: {
            [CERT_PROVIDER]: {
              plugin_name: 'file_watcher',
              config: {
                certificate_file: join(o.certDir, CERT_FILES.certificateChain),
                private_key_file: join(o.certDir, CERT_FILES.privateKey),
                ca_certificate_file: join(o.certDir, CERT_FILES.rootCert),
                refresh_interval: `${o.refreshIntervalSeconds ?? REFRESH_INTERVAL_SECONDS}s`,
              },
            },
          },
        }
      : {}),
    server_listener_resource_name_template: SERVER_LISTENER_TEMPLATE,
  };
}
