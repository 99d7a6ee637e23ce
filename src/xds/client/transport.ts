/**
 * TLS to the control plane's secure port (istiod's :15012), as Istio's agent dials it: the server
 * is verified against the mesh root under istiod's name, and the workload certificate (from the
 * agent) is presented, so the control plane knows the proxy's SPIFFE identity. The identity is
 * read each time a channel is made, so a rotated certificate is used by the next connection.
 */
import * as grpc from '@grpc/grpc-js';

/** istiod's service name: what its serving certificate names and sidecars verify. */
export const ISTIOD_SERVER_NAME = 'istiod.istio-system.svc';

export interface XdsTls {
  /** The mesh root certificate(s), PEM. */
  rootCertPem: () => string;
  /** The name the server's certificate must carry (default istiod.istio-system.svc). */
  serverName?: string;
  /** The workload's current certificate chain and key; undefined while it has none. */
  identity?: () => { certChainPem: string; privateKeyPem: string } | undefined;
}

/** Channel credentials and options for one channel, with the current identity. */
export function xdsChannel(tls: XdsTls): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  const id = tls.identity?.();
  const credentials = grpc.credentials.createSsl(
    Buffer.from(tls.rootCertPem()),
    id ? Buffer.from(id.privateKeyPem) : null,
    id ? Buffer.from(id.certChainPem) : null,
  );
  const name = tls.serverName ?? ISTIOD_SERVER_NAME;
  return { credentials, options: { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name } };
}
