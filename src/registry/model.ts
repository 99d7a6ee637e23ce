/**
 * The service model every registry source produces and pilot consumes (Istio's model.Service and
 * model.IstioEndpoint). No Envoy types here.
 */

/** Istio's protocol names, as selected from port name prefix / appProtocol / ServiceEntry. */
export type Protocol = 'HTTP' | 'HTTP2' | 'HTTPS' | 'GRPC' | 'GRPC-WEB' | 'TCP' | 'TLS' | 'MONGO' | 'REDIS' | 'MYSQL' | 'UDP' | 'UNSUPPORTED';

export interface ServicePort {
  /** Port name, e.g. "http", "grpc-echo". */
  name: string;
  /** The service port clients dial. */
  port: number;
  protocol: Protocol;
  /** The port the workload listens on when different (Kubernetes targetPort); numeric only. */
  targetPort?: number;
  /**
   * A named Kubernetes targetPort ("http-web"): resolved per workload through its named ports;
   * a workload that does not declare it is reached on `port`.
   */
  targetPortName?: string;
}

export type Resolution = 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN' | 'NONE';

export interface Service {
  /** FQDN, e.g. reviews.default.svc.cluster.local, or an external host like api.example.com. */
  hostname: string;
  namespace: string;
  /** Short name for Kubernetes services ("reviews"); the hostname for ServiceEntries. */
  name: string;
  ports: ServicePort[];
  /** Cluster IPs / ServiceEntry addresses. May be empty. */
  addresses: string[];
  /**
   * Kubernetes: the addresses callers outside the cluster's network reach it on (spec.externalIPs;
   * Istio's ClusterExternalAddresses). An east-west gateway Service's are its network's gateway.
   */
  externalAddresses?: string[];
  labels: Record<string, string>;
  /** Pod selector (Kubernetes Service) or ServiceEntry workloadSelector labels. */
  selector?: Record<string, string>;
  resolution: Resolution;
  /** "." (own namespace), "*" (all, default) or namespace names. */
  exportTo: string[];
  /** MESH_INTERNAL (default) or MESH_EXTERNAL (ServiceEntry location). */
  meshExternal: boolean;
  /** Which source produced it: "kubernetes", "serviceentry", ... */
  registry: string;
  /** The kind/namespace/name of the resource that defined it. */
  source?: string;
}

export interface Locality {
  region?: string;
  zone?: string;
  subzone?: string;
}

/** One instance of a service on one port (Istio's IstioEndpoint). */
export interface Endpoint {
  /** Hostname of the Service this endpoint belongs to. */
  service: string;
  /** The service port name this endpoint serves. */
  servicePortName: string;
  /** IP address (or a DNS name for DNS-resolved ServiceEntry endpoints). */
  address: string;
  /** Port the workload listens on for this service port. */
  port: number;
  labels: Record<string, string>;
  locality: Locality;
  serviceAccount?: string;
  network?: string;
  /** LB weight, default 1. */
  weight: number;
  healthy: boolean;
  /** Workload name, e.g. "reviews-v1-abc" or the WorkloadEntry's name. */
  workloadName?: string;
  namespace: string;
  /** True if the workload runs a sidecar that accepts Istio mTLS (tlsMode=istio label). */
  tlsModeIstio?: boolean;
}

/** A workload: a pod, a WorkloadEntry, or a self-registered proxy. */
export interface Workload {
  name: string;
  namespace: string;
  address: string;
  labels: Record<string, string>;
  serviceAccount?: string;
  locality: Locality;
  network?: string;
  weight?: number;
  /** Named ports (WorkloadEntry.ports: port name -> number). */
  ports?: Record<string, number>;
  healthy?: boolean;
  source: string;
}

/** A change notice from the registry; endpointsOnly lets xDS send EDS alone. */
export interface RegistryEvent {
  /** Hostnames whose Service or Endpoints changed. */
  services: string[];
  /** No Service changed (only endpoints did): the last PushContext can be reused. */
  endpointsOnly: boolean;
  /**
   * Set when the service accounts behind some of `services` changed. Clusters carry them as SAN
   * checks, so CDS must be pushed too (istiod's EDSUpdate turns into a full push then).
   */
  serviceAccountsChanged?: true;
}

/**
 * One merged view of every source (Istio's aggregate controller). The Kubernetes source plugs in
 * behind the same interface.
 */
export interface ServiceDiscovery {
  services(): Service[];
  getService(hostname: string): Service | undefined;
  /** Endpoints of one service port (by service port number). */
  endpoints(hostname: string, port: number): Endpoint[];
  workloads(): Workload[];
  onChange(handler: (e: RegistryEvent) => void): () => void;
}
