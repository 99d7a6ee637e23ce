/**
 * What an outbound proxy can know about the upstream it sent to, without the upstream saying it:
 * whether the connection was Istio mTLS (the chosen transport socket offers Istio's ALPN), the
 * SPIFFE ids the handshake verified the server against (its SAN matchers), and the endpoint's
 * `istio.workload` metadata from EDS. Computed per cluster config and cached on it.
 */
import type { UpstreamHost } from '../interfaces.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { PeerInfo } from './peer_info.ts';
import { peerFromWorkloadMetadata } from './node_peer.ts';

interface SocketFacts {
  mtls: boolean;
  /** Exact spiffe:// SAN matchers of the socket's validation context. */
  sans: readonly string[];
}
const NONE: SocketFacts = { mtls: false, sans: [] };

function socketFacts(ts: EnvoyJson | undefined): SocketFacts {
  const tc = ts?.typed_config;
  if (!tc || !String(tc['@type'] ?? '').endsWith('UpstreamTlsContext')) return NONE;
  const common = tc.common_tls_context ?? {};
  const alpn: string[] = common.alpn_protocols ?? [];
  const mtls = alpn.includes('istio-peer-exchange') || alpn.includes('istio');
  const v = common.combined_validation_context?.default_validation_context ?? common.validation_context ?? {};
  const sans: string[] = [];
  for (const m of v.match_typed_subject_alt_names ?? []) {
    const exact = m?.matcher?.exact;
    if (typeof exact === 'string' && exact.startsWith('spiffe://')) sans.push(exact);
  }
  return { mtls, sans };
}

interface ClusterFacts {
  plain: SocketFacts;
  /** transport_socket_matches' tlsMode=istio socket (auto mTLS), if any. */
  istio?: SocketFacts;
}
const byConfig = new WeakMap<object, ClusterFacts>();

function clusterFacts(config: EnvoyJson): ClusterFacts {
  let f = byConfig.get(config);
  if (!f) {
    const istioMatch = (config.transport_socket_matches ?? []).find((m: EnvoyJson) => m?.match?.tlsMode === 'istio');
    f = { plain: socketFacts(config.transport_socket), ...(istioMatch ? { istio: socketFacts(istioMatch.transport_socket) } : {}) };
    byConfig.set(config, f);
  }
  return f;
}

/** The transport facts for a request to `host` of the cluster configured by `config`. */
export function upstreamSocket(config: EnvoyJson | undefined, host: UpstreamHost | undefined): SocketFacts {
  if (!config) return NONE;
  const f = clusterFacts(config);
  if (f.istio && host?.metadata?.['envoy.transport_socket_match']?.tlsMode === 'istio') return f.istio;
  return f.plain;
}

/**
 * The upstream's principal: the one SPIFFE id the handshake accepted; among several, the one the
 * peer's claimed service account names (the handshake proved it is one of them); else unknown.
 */
export function upstreamPrincipal(facts: SocketFacts, claimed?: { namespace: string; serviceAccount?: string }): string | undefined {
  if (!facts.mtls || facts.sans.length === 0) return undefined;
  if (facts.sans.length === 1) return facts.sans[0];
  if (claimed?.serviceAccount) {
    const suffix = `/ns/${claimed.namespace}/sa/${claimed.serviceAccount}`;
    return facts.sans.find((s) => s.endsWith(suffix));
  }
  return undefined;
}

const hostPeers = new WeakMap<object, PeerInfo | null>();

/** The endpoint's istio.workload metadata as a peer (cached per host metadata object). */
export function endpointPeer(host: UpstreamHost | undefined): PeerInfo | undefined {
  const md = host?.metadata;
  if (!md) return undefined;
  let p = hostPeers.get(md);
  if (p === undefined) hostPeers.set(md, (p = peerFromWorkloadMetadata(md.istio?.workload) ?? null));
  return p ?? undefined;
}
