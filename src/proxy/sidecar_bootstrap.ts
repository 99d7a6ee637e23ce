/**
 * Builds the Bootstrap a sidecar or gateway needs from a few flags, as Istio's pilot-agent
 * does: node id `sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`, Istio's node metadata
 * (NAMESPACE, LABELS, SERVICE_ACCOUNT, INSTANCE_IPS, WORKLOAD_NAME, ISTIO_VERSION, ...), the
 * admin address, and ADS to the control plane through a static "xds-grpc" cluster.
 */
import { isIP } from 'node:net';
import type { EnvoyJson } from '../xds/types.ts';

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
  /** Use incremental (delta) ADS instead of state of the world. */
  delta?: boolean;
  clusterId?: string;
  meshId?: string;
}

/** Istio version this proxy reports; pilot gates features on it. */
export const ISTIO_VERSION = '1.24.0';

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

function splitHostPort(a: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(a) ?? /^([^:]+):(\d+)$/.exec(a);
  if (!m) throw new Error(`--discovery-address: expected host:port, got "${a}"`);
  return { host: m[1], port: Number(m[2]) };
}

export function sidecarNodeId(o: SidecarOptions): string {
  const pod = o.podName ?? o.workloadName;
  return `${o.type}~${o.ip}~${pod}.${o.namespace}~${o.namespace}.svc.cluster.local`;
}

export function buildSidecarBootstrap(o: SidecarOptions): EnvoyJson {
  const xds = splitHostPort(o.discoveryAddress);
  const metadata: EnvoyJson = {
    NAMESPACE: o.namespace,
    LABELS: o.labels,
    WORKLOAD_NAME: o.workloadName,
    NAME: o.podName ?? o.workloadName,
    INSTANCE_IPS: o.ip,
    ISTIO_VERSION,
    CLUSTER_ID: o.clusterId ?? 'Kubernetes',
    MESH_ID: o.meshId ?? 'cluster.local',
    INTERCEPTION_MODE: 'REDIRECT',
    PROXY_CONFIG: { proxyAdminPort: o.adminPort },
  };
  if (o.serviceAccount) metadata.SERVICE_ACCOUNT = o.serviceAccount;
  if (o.ports?.length) metadata.POD_PORTS = JSON.stringify(o.ports.map((p) => ({ containerPort: p, protocol: 'TCP' })));
  const app = o.labels.app ?? o.workloadName;
  return {
    node: { id: sidecarNodeId(o), cluster: `${app}.${o.namespace}`, metadata },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: o.adminPort } } },
    dynamic_resources: {
      ads_config: { api_type: o.delta ? 'DELTA_GRPC' : 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: 'xds-grpc',
          type: isIP(xds.host) ? 'STATIC' : 'STRICT_DNS',
          connect_timeout: '1s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: 'xds-grpc',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: xds.host, port_value: xds.port } } } }] }],
          },
        },
      ],
    },
  };
}
