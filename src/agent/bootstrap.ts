/**
 * The one builder of the Envoy v3 Bootstrap a proxy starts from, as Istio's pilot-agent writes
 * it for Envoy: the node identity pilot keys everything on (id `<type>~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`,
 * cluster `<app>.<ns>`), node metadata in Istio's names (NAMESPACE, LABELS, SERVICE_ACCOUNT,
 * INSTANCE_IPS, WORKLOAD_NAME, ISTIO_VERSION, INTERCEPTION_MODE, POD_PORTS, ...), the admin
 * address, and ADS over gRPC (HTTP/2) to the control plane through the static `xds-grpc` cluster.
 * With a workload agent beside it, also the static `sds-grpc` cluster: the agent's SDS socket
 * (a pipe endpoint), which every Istio TLS context names for `default` and `ROOTCA`.
 *
 * Three ways in, one way out: `tsmesh proxy`'s sidecar flags (buildSidecarBootstrap), the demo's
 * sidecars beside their app (sidecarBootstrap) and ingress/egress gateways (gatewayBootstrap).
 * Written as JSON (Envoy and `tsmesh proxy` read both).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { CLUSTER_EXT, HTTP_FILTER, NETWORK_FILTER, TYPE_URL_PREFIX } from '../xds/type_urls.ts';
import type { EnvoyJson } from '../xds/types.ts';
import { buildVersion, TSMESH_USER_AGENT, TSMESH_VERSION } from '../common/version.ts';

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';
export const XDS_CLUSTER = 'xds-grpc';
/** Istio's static cluster for the agent's SDS socket. */
export const SDS_CLUSTER = 'sds-grpc';
/**
 * Node metadata (tsmesh extension) saying an agent beside the proxy serves it a workload
 * certificate over SDS. Istio assumes every proxy has one; tsmesh also runs proxies without an
 * agent, and pilot must not send those config that waits for secrets (src/pilot/proxy.ts).
 */
export const WORKLOAD_CERTIFICATES_META = 'TSMESH_WORKLOAD_CERTIFICATES';
export const DOMAIN_SUFFIX = 'svc.cluster.local';
/** The Istio version this proxy reports in ISTIO_VERSION; pilot may gate features on it. */
export const ISTIO_VERSION = '1.24.0';

export interface HostPort {
  host: string;
  port: number;
}
/** Where the control plane's xDS listens. */
export type XdsAddress = HostPort;

export interface ContainerPort {
  name?: string;
  containerPort: number;
}

export interface BootstrapOptions {
  /** Istio's proxy types: a sidecar beside an app, or a router (gateway). */
  type: 'sidecar' | 'router';
  /** The node's IP: in the node id and INSTANCE_IPS. */
  ip: string;
  /** The pod's name: in the node id and NAME. */
  pod: string;
  namespace: string;
  /** node.cluster is `<app>.<namespace>` (Istio: the app label, else the workload name). */
  app: string;
  labels: Record<string, string>;
  serviceAccount?: string;
  /** The Deployment, as Istio's WORKLOAD_NAME. */
  workloadName: string;
  /** Istio's POD_PORTS: the ports the app serves (inbound listeners). */
  ports?: ContainerPort[];
  /**
   * Istio's INTERCEPTION_MODE for sidecars: REDIRECT (iptables sends traffic to 15001/15006)
   * or NONE (no iptables: listeners bind real addresses; the demo's pods on loopback).
   */
  interception?: 'REDIRECT' | 'NONE';
  admin: HostPort;
  xds: XdsAddress;
  /** Incremental (delta) ADS instead of state of the world. */
  delta?: boolean;
  clusterId?: string;
  meshId?: string;
  /** Further node metadata (GATEWAY_BIND_ADDRESS, HTTP_PROXY_PORT, ...). */
  metadata?: Record<string, unknown>;
  /** The workload agent's SDS socket: adds the static `sds-grpc` cluster pointing at it. */
  sdsSocket?: string;
  /**
   * Istio's stats listener port (15090): a static listener on the node's IP serving
   * `/stats/prometheus` from the admin API through the static `prometheus_stats` cluster, as
   * Istio's bootstrap has it. Needs a fixed admin port (0 would leave the cluster nowhere to go).
   */
  prometheusPort?: number;
}

/** Istio's stats port: what Prometheus scrapes on every sidecar and gateway. */
export const PROMETHEUS_PORT = 15090;
export const PROMETHEUS_STATS_CLUSTER = 'prometheus_stats';

export function nodeId(o: Pick<BootstrapOptions, 'type' | 'ip' | 'pod' | 'namespace'>): string {
  return `${o.type}~${o.ip}~${o.pod}.${o.namespace}~${o.namespace}.${DOMAIN_SUFFIX}`;
}

/** What the node of a bootstrap (Envoy's or gRPC's) is built from. */
export type NodeOptions = Omit<BootstrapOptions, 'admin' | 'xds' | 'delta' | 'sdsSocket'> & { admin?: HostPort };

/** The node pilot keys everything on: Istio's id, cluster and metadata. */
export function buildNode(o: NodeOptions): EnvoyJson {
  const metadata: Record<string, unknown> = {
    NAMESPACE: o.namespace,
    LABELS: o.labels,
    ...(o.serviceAccount ? { SERVICE_ACCOUNT: o.serviceAccount } : {}),
    INSTANCE_IPS: o.ip,
    WORKLOAD_NAME: o.workloadName,
    NAME: o.pod,
    ISTIO_VERSION,
    CLUSTER_ID: o.clusterId ?? 'Kubernetes',
    MESH_ID: o.meshId ?? 'cluster.local',
    ...(o.type === 'sidecar' ? { INTERCEPTION_MODE: o.interception ?? 'REDIRECT' } : {}),
    ...(o.admin ? { PROXY_CONFIG: { proxyAdminPort: o.admin.port } } : {}),
    ...(o.ports?.length ? { POD_PORTS: JSON.stringify(o.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), containerPort: p.containerPort, protocol: 'TCP' }))) } : {}),
    ...o.metadata,
  };
  return { id: nodeId(o), cluster: `${o.app}.${o.namespace}`, metadata };
}

export function buildBootstrap(o: BootstrapOptions): EnvoyJson {
  // The proxy's own build, where Envoy reports its own (tsmesh version / proxy-status read it);
  // ISTIO_VERSION in metadata stays for pilot's compatibility with the Istio release it follows.
  const node: EnvoyJson = { ...buildNode(o), user_agent_name: TSMESH_USER_AGENT, user_agent_build_version: buildVersion(TSMESH_VERSION) };
  if (o.sdsSocket) node.metadata[WORKLOAD_CERTIFICATES_META] = 'true';
  return {
    node,
    admin: { address: socketAddress(o.admin) },
    dynamic_resources: {
      ads_config: { api_type: o.delta ? 'DELTA_GRPC' : 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }] },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          // A name (istiod.istio-system.svc) is resolved; an address is used as is.
          type: isIP(o.xds.host) ? 'STATIC' : 'STRICT_DNS',
          connect_timeout: '1s',
          load_assignment: { cluster_name: XDS_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(o.xds) } }] }] },
          // ADS is gRPC, so HTTP/2 to the control plane.
          typed_extension_protocol_options: HTTP2_OPTIONS,
        },
        ...(o.sdsSocket ? [sdsGrpcCluster(o.sdsSocket)] : []),
        ...(o.prometheusPort && o.admin.port ? [prometheusStatsCluster(o.admin)] : []),
      ],
      ...(o.prometheusPort && o.admin.port ? { listeners: [prometheusStatsListener(o.ip, o.prometheusPort)] } : {}),
    },
  };
}

/** Istio's static cluster to the admin API, which the 15090 listener routes /stats/prometheus to. */
function prometheusStatsCluster(admin: HostPort): EnvoyJson {
  return {
    name: PROMETHEUS_STATS_CLUSTER,
    type: 'STATIC',
    connect_timeout: '0.250s',
    load_assignment: { cluster_name: PROMETHEUS_STATS_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(admin) } }] }] },
  };
}

/** Istio's stats listener: only /stats/prometheus, nothing else of the admin API, on the node's address. */
function prometheusStatsListener(ip: string, port: number): EnvoyJson {
  return {
    name: `${ip}_${port}`,
    address: socketAddress({ host: ip, port }),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': NETWORK_FILTER.HTTP_CONNECTION_MANAGER,
              codec_type: 'AUTO',
              stat_prefix: 'stats',
              route_config: { virtual_hosts: [{ name: 'backend', domains: ['*'], routes: [{ match: { prefix: '/stats/prometheus' }, route: { cluster: PROMETHEUS_STATS_CLUSTER } }] }] },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': HTTP_FILTER.ROUTER } }],
            },
          },
        ],
      },
    ],
  };
}

/** gRPC clusters speak HTTP/2. */
const HTTP2_OPTIONS: EnvoyJson = {
  // keyed by the extension's name: its type URL without the prefix
  [CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS.slice(TYPE_URL_PREFIX.length)]: { '@type': CLUSTER_EXT.HTTP_PROTOCOL_OPTIONS, explicit_http_config: { http2_protocol_options: {} } },
};

/** Istio's static `sds-grpc` cluster: the agent's SDS server on the Unix socket `path`. */
export function sdsGrpcCluster(path: string): EnvoyJson {
  return {
    name: SDS_CLUSTER,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: SDS_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path } } } }] }] },
    typed_extension_protocol_options: HTTP2_OPTIONS,
  };
}

/** An SdsSecretConfig naming `name` from the agent, exactly as Istio's generated TLS contexts have it. */
export function sdsSecretConfig(name: string): EnvoyJson {
  return {
    name,
    sds_config: {
      api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }], set_node_on_first_message_only: true },
      initial_fetch_timeout: '0s',
      resource_api_version: 'V3',
    },
  };
}

function socketAddress(a: HostPort): EnvoyJson {
  return { socket_address: { address: a.host, port_value: a.port } };
}

export function writeBootstrap(file: string, json: EnvoyJson): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(json, null, 2) + '\n');
}

// ---- the demo's sidecars and gateways ----------------------------------------------------

export interface SidecarBootstrapOptions {
  pod: string;
  namespace: string;
  /** The mesh-facing address (inbound listeners bind here). */
  podIP: string;
  /** Where the app listens; also the admin and outbound proxy address. */
  appIP: string;
  /** The pod's `app` label (or the Deployment name): node.cluster is `<app>.<ns>`. */
  app: string;
  labels: Record<string, string>;
  serviceAccount: string;
  workloadName: string;
  /** Named container ports, sent as Istio's POD_PORTS. */
  ports: Record<string, number>;
  containerPorts: number[];
  adminPort: number;
  outboundPort: number;
  xds: XdsAddress;
  /** The agent's SDS socket, when the pod has a workload identity (see BootstrapOptions). */
  sdsSocket?: string;
}

/** A demo pod's sidecar: no iptables (NONE), inbound on the pod IP, outbound as an HTTP proxy the app is pointed at. */
export function sidecarBootstrap(o: SidecarBootstrapOptions): EnvoyJson {
  const names = new Map(Object.entries(o.ports).map(([name, port]) => [port, name]));
  return buildBootstrap({
    type: 'sidecar',
    ip: o.podIP,
    pod: o.pod,
    namespace: o.namespace,
    app: o.app,
    labels: o.labels,
    serviceAccount: o.serviceAccount,
    workloadName: o.workloadName,
    ports: o.containerPorts.map((containerPort) => ({ ...(names.has(containerPort) ? { name: names.get(containerPort) } : {}), containerPort })),
    interception: 'NONE',
    admin: { host: o.appIP, port: o.adminPort },
    xds: o.xds,
    metadata: { HTTP_PROXY_PORT: String(o.outboundPort), TSMESH_APP_ADDRESS: o.appIP },
    ...(o.sdsSocket ? { sdsSocket: o.sdsSocket } : {}),
    prometheusPort: PROMETHEUS_PORT,
  });
}

export interface GatewayBootstrapOptions {
  namespace?: string;
  name?: string;
  labels?: Record<string, string>;
  /** Where Gateway listeners bind (GATEWAY_BIND_ADDRESS) and the node's IP. */
  bindAddress?: string;
  adminPort: number;
  xds: XdsAddress;
  sdsSocket?: string;
}

/** A gateway (router) pod `<name>-1`, as Istio's istio-ingressgateway Deployment in istio-system. */
export function gatewayBootstrap(o: GatewayBootstrapOptions): EnvoyJson {
  const namespace = o.namespace ?? 'istio-system';
  const name = o.name ?? 'istio-ingressgateway';
  const ip = o.bindAddress ?? '127.0.0.1';
  return buildBootstrap({
    type: 'router',
    ip,
    pod: `${name}-1`,
    namespace,
    app: name,
    labels: o.labels ?? { istio: 'ingressgateway', app: name },
    serviceAccount: `${name}-service-account`,
    workloadName: name,
    admin: { host: ip, port: o.adminPort },
    xds: o.xds,
    metadata: { GATEWAY_BIND_ADDRESS: ip },
    ...(o.sdsSocket ? { sdsSocket: o.sdsSocket } : {}),
    prometheusPort: PROMETHEUS_PORT,
  });
}

// ---- `tsmesh proxy`'s sidecar flags --------------------------------------------------------

export interface SidecarOptions {
  discoveryAddress: string;
  workloadName: string;
  podName?: string;
  namespace: string;
  labels: Record<string, string>;
  serviceAccount?: string;
  ip: string;
  type: 'sidecar' | 'router';
  adminPort: number;
  /** Container ports the workload serves (Istio's POD_PORTS), for inbound listeners. */
  ports?: number[];
  delta?: boolean;
  clusterId?: string;
  meshId?: string;
  /** The workload agent's SDS socket (the `sds-grpc` cluster), when the agent runs. */
  sdsSocket?: string;
  /** Further node metadata (pilot-agent's ISTIO_META_* environment, e.g. DNS_CAPTURE). */
  metadata?: Record<string, unknown>;
  /** Istio's stats port (default 15090); proxies sharing one IP, as tests on loopback do, each need their own. */
  prometheusPort?: number;
}

export const SIDECAR_DEFAULTS: SidecarOptions = {
  discoveryAddress: '127.0.0.1:15010',
  workloadName: 'workload',
  namespace: 'default',
  labels: {},
  ip: '127.0.0.1',
  type: 'sidecar',
  adminPort: 15000,
};

/** "app=reviews,version=v1" -> {app: "reviews", version: "v1"}; throws naming a malformed pair. */
export function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--labels: expected k=v, got "${pair}"`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function splitHostPort(a: string): HostPort {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(a) ?? /^([^:]+):(\d+)$/.exec(a);
  if (!m) throw new Error(`--discovery-address: expected host:port, got "${a}"`);
  return { host: m[1]!, port: Number(m[2]) };
}

export function sidecarNodeId(o: SidecarOptions): string {
  return nodeId({ type: o.type, ip: o.ip, pod: o.podName ?? o.workloadName, namespace: o.namespace });
}

/** From `tsmesh proxy --discovery-address ... --workload-name ...`: a pod with iptables (REDIRECT), admin on 127.0.0.1. */
export function buildSidecarBootstrap(o: SidecarOptions): EnvoyJson {
  return buildBootstrap({
    type: o.type,
    ip: o.ip,
    pod: o.podName ?? o.workloadName,
    namespace: o.namespace,
    app: o.labels.app ?? o.workloadName,
    labels: o.labels,
    ...(o.serviceAccount ? { serviceAccount: o.serviceAccount } : {}),
    workloadName: o.workloadName,
    ...(o.ports ? { ports: o.ports.map((containerPort) => ({ containerPort })) } : {}),
    interception: 'REDIRECT',
    admin: { host: '127.0.0.1', port: o.adminPort },
    xds: splitHostPort(o.discoveryAddress),
    ...(o.delta ? { delta: true } : {}),
    ...(o.clusterId ? { clusterId: o.clusterId } : {}),
    ...(o.meshId ? { meshId: o.meshId } : {}),
    ...(o.sdsSocket ? { sdsSocket: o.sdsSocket } : {}),
    ...(o.metadata ? { metadata: o.metadata } : {}),
    prometheusPort: o.prometheusPort ?? PROMETHEUS_PORT,
  });
}
