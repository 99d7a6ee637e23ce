/**
 * What an Istio stats filter (HTTP or TCP) knows for its whole listener: the reporter (Istio's
 * rule: "destination" on inbound listeners, "source" on outbound ones and gateways), this proxy
 * as a peer, and how to label one finished stream or connection from its StreamInfo — the
 * downstream/upstream peers the metadata exchange found, or what the certificate, the cluster's
 * istio metadata and the endpoint's istio.workload metadata say when it found nothing.
 */
import type { ClusterManager, ConnectionInfo, StreamInfo } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { httpToGrpcStatus } from '../http/common/grpc_status.ts';
import { localPeer, spiffePrincipal } from './node_peer.ts';
import { unknownPeer, withPrincipal, serviceAccounts } from './peer_cache.ts';
import type { PeerInfo } from './peer_info.ts';
import { endpointPeer, upstreamPrincipal, upstreamSocket } from './upstream_peer.ts';
import { serviceLabels } from './destination_service.ts';
import { labelsOf, type LabelInput } from './stats_labels.ts';

const CODES: string[] = [];
function codeString(c: number): string {
  return c >= 0 && c < 600 ? (CODES[c] ??= String(c)) : String(c);
}

/**
 * A gRPC answer without grpc-status (an HTTP error from a plain upstream): the status its HTTP
 * code maps to, as Envoy's Grpc::Common::getGrpcStatus infers it for Istio's label.
 */
function inferredGrpcStatus(httpCode: number): string {
  return codeString(httpToGrpcStatus(httpCode));
}

export class StatsReporter {
  readonly inbound: boolean;
  readonly reporter: 'source' | 'destination';
  private readonly me: PeerInfo;
  private readonly meNoPrincipal: PeerInfo;

  /** destination_service may come from the Host header (stats.PluginConfig disable_host_header_fallback unset). */
  private readonly hostFallback: boolean;

  constructor(
    node: EnvoyJson | undefined,
    trafficDirection: string | undefined,
    private readonly clusters: ClusterManager,
    cfg?: { disableHostHeaderFallback?: boolean },
  ) {
    this.hostFallback = !cfg?.disableHostHeaderFallback;
    this.inbound = trafficDirection === 'INBOUND';
    this.reporter = this.inbound ? 'destination' : 'source';
    this.me = localPeer(node).info;
    const { principal: _p, ...rest } = this.me;
    this.meNoPrincipal = rest;
  }

  /**
   * The labels of a finished HTTP stream (http) or TCP connection. `grpcStatus`: the grpc-status
   * the answer carried (trailers, else headers), empty or undefined when none.
   */
  input(info: StreamInfo, conn: ConnectionInfo, protocol: string, http: boolean, grpcStatus?: string): LabelInput {
    const cluster = info.upstreamCluster ? this.clusters.get(info.upstreamCluster)?.config : undefined;
    const flags = info.responseFlags.length ? info.responseFlags.join(',') : '-';
    let src: PeerInfo;
    let dst: PeerInfo;
    let security: string;
    if (this.inbound) {
      const principal = spiffePrincipal(conn.peerCertificateUris);
      const mtls = principal !== undefined;
      src = info.downstreamPeer ? withPrincipal(info.downstreamPeer, principal) : unknownPeer(principal);
      dst = mtls ? this.me : this.meNoPrincipal;
      security = mtls ? 'mutual_tls' : 'none';
    } else {
      const facts = upstreamSocket(cluster, info.upstreamHost);
      src = facts.mtls ? this.me : this.meNoPrincipal;
      const peer = info.upstreamPeer ?? endpointPeer(info.upstreamHost);
      const principal = upstreamPrincipal(facts, peer ? { namespace: peer.namespace, serviceAccount: serviceAccounts.get(peer) } : undefined);
      dst = peer ? withPrincipal(peer, principal) : unknownPeer(principal);
      // Istio's source reporter does not know the server's policy.
      security = 'unknown';
    }
    const x: LabelInput = { reporter: this.reporter, src: labelsOf(src), dst: labelsOf(dst), svc: serviceLabels(cluster, info, this.hostFallback), protocol, flags, security };
    if (http) {
      x.code = codeString(info.responseCode ?? 0);
      x.grpc = grpcStatus || (protocol === 'grpc' && info.responseCode ? inferredGrpcStatus(info.responseCode) : '');
    }
    return x;
  }
}
