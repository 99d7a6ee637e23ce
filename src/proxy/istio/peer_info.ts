/**
 * What one side of a mesh hop knows about the other (Istio's peer metadata, the subset the
 * standard metrics and CEL attributes use). Filled by the peer-metadata filters: the HTTP headers
 * x-envoy-peer-metadata / -id, or the TCP istio-peer-exchange ALPN exchange; the principal always
 * comes from the mTLS peer certificate, never from what the peer says about itself.
 */
export interface PeerInfo {
  /** WORKLOAD_NAME (e.g. "reviews-v1"); "unknown" when the peer said nothing. */
  workload: string;
  /** NAMESPACE. */
  namespace: string;
  /** LABELS["app"] (or app.kubernetes.io/name). */
  app?: string;
  /** LABELS["version"] (or app.kubernetes.io/version). */
  version?: string;
  /** LABELS["service.istio.io/canonical-name"]. */
  canonicalService?: string;
  /** LABELS["service.istio.io/canonical-revision"]. */
  canonicalRevision?: string;
  /** CLUSTER_ID. */
  cluster?: string;
  /** MESH_ID. */
  meshId?: string;
  /** SPIFFE id from the peer certificate (e.g. "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"). */
  principal?: string;
  /** LABELS, all of them. */
  labels?: Record<string, string>;
}
