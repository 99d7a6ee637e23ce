/**
 * What pilot's generators take in and give out. Generators are pure: the same PushContext and
 * Proxy always give the same resources, sorted by name.
 */
import type { Config, MeshConfig } from '../api/types.ts';
import type { Endpoint, Service, Workload } from '../registry/model.ts';
import type { Generator as XdsGenerator } from '../xds/types.ts';

/** How traffic reaches a sidecar (Istio's INTERCEPTION_MODE node metadata). */
export type InterceptionMode = 'REDIRECT' | 'TPROXY' | 'NONE';

/** What the control plane knows about one connected proxy (Istio's model.Proxy). */
export interface Proxy {
  /** Node id, e.g. `sidecar~127.0.0.5~reviews-v1-1.default~default.svc.cluster.local`. */
  id: string;
  type: 'sidecar' | 'router';
  ipAddresses: string[];
  /** Pod/workload name and namespace parsed from the id or metadata. */
  workloadName: string;
  namespace: string;
  dnsDomain: string;
  labels: Record<string, string>;
  serviceAccount?: string;
  /** "grpc" for proxyless gRPC clients (Istio's GENERATOR metadata). */
  generator?: string;
  /**
   * TSMESH_WORKLOAD_CERTIFICATES: the proxy's agent serves it a workload certificate (SDS
   * `default` / `ROOTCA`). false: mesh mTLS is never offered implicitly to or by this proxy.
   * Absent (hand-built proxies in tests) counts as true.
   */
  workloadCertificates?: boolean;
  /** Raw node metadata (ISTIO_VERSION, LABELS, NAMESPACE, ...). */
  metadata: Record<string, unknown>;
  locality: { region?: string; zone?: string; subzone?: string };
  /**
   * INTERCEPTION_MODE: REDIRECT/TPROXY mean iptables captures traffic into 15001/15006; NONE
   * means no capture, so listeners bind real addresses. Absent means REDIRECT.
   */
  interceptionMode?: InterceptionMode;
  /** HTTP_PROXY_PORT: port of the explicit HTTP proxy listener (route `http_proxy`), if any. */
  httpProxyPort?: number;
  /**
   * TSMESH_APP_ADDRESS (tsmesh extension): the address the application listens on, where
   * inbound traffic is delivered and (in NONE mode) outbound listeners bind. Absent means
   * 127.0.0.1; on a shared host each pod has its own loopback address.
   */
  appAddress?: string;
  /** NETWORK (ISTIO_META_NETWORK), else the topology.istio.io/network label: the proxy's network. */
  network?: string;
  /** REQUESTED_NETWORK_VIEW: the only networks whose endpoints this proxy gets (unset: all). */
  requestedNetworkView?: string[];
}

/**
 * An immutable snapshot of config + registry for one push (Istio's PushContext). Built once per
 * debounced change and shared by every proxy's generation.
 */
export interface PushContext {
  /** Changes only when content changes. */
  version: string;
  mesh: MeshConfig;
  /** Every valid config object (all kinds), in a stable order. */
  configs: Config[];
  services: Service[];
  /** Endpoints by `${hostname}|${port}`. */
  endpoints: Map<string, Endpoint[]>;
  workloads: Workload[];
  /**
   * False when no CA issues workload certificates: then mesh mTLS is not offered implicitly
   * (no auto mTLS, no mTLS chain for PERMISSIVE ports), because proxies would wait for SDS
   * secrets that never come. Explicit ISTIO_MUTUAL / STRICT still produce mTLS. Default: true.
   */
  workloadCertificates?: boolean;
  /**
   * Lookup tables built once by buildPushContext (src/pilot/push_context.ts). Optional so that a
   * hand-made PushContext still works: `pushIndex(push)` builds and caches it on demand.
   */
  index?: PushIndex;
}

/** Per-push lookup tables, so per-proxy generation never scans every config. */
export interface PushIndex {
  servicesByHost: Map<string, Service>;
  /** Istio configs of one kind, oldest first (creationTimestamp, then namespace/name). */
  byKind: Map<string, Config[]>;
  /** DestinationRules by their own namespace, oldest first. */
  destinationRulesByNamespace: Map<string, Config[]>;
  /** Sidecar resources by namespace, oldest first. */
  sidecarsByNamespace: Map<string, Config[]>;
}

/** Builds one type's resources for one proxy (the xDS server's Generator over pilot's snapshot). */
export type Generator = XdsGenerator<PushContext, Proxy>;
