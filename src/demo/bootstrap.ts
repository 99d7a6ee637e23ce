/**
 * Envoy v3 bootstrap files for the demo's proxies, in the shape istio-agent writes for Envoy:
 * the node identity pilot keys everything on (id `sidecar~ip~pod.ns~ns.svc.cluster.local`),
 * node metadata in Istio's names, an admin address, and ADS over gRPC to the control plane
 * through the static `xds-grpc` cluster. Written as JSON (Envoy and `tsmesh proxy` read both).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { EnvoyJson } from '../xds/types.ts';

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';
export const XDS_CLUSTER = 'xds-grpc';
export const DOMAIN_SUFFIX = 'svc.cluster.local';

export interface XdsAddress {
  host: string;
  port: number;
}

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
  /** The Deployment, as Istio's WORKLOAD_NAME. */
  workloadName: string;
  /** Named container ports, sent as Istio's POD_PORTS. */
  ports: Record<string, number>;
  containerPorts: number[];
  adminPort: number;
  outboundPort: number;
  xds: XdsAddress;
}

export interface GatewayBootstrapOptions {
  namespace?: string;
  name?: string;
  labels?: Record<string, string>;
  /** Where Gateway listeners bind (GATEWAY_BIND_ADDRESS) and the node's IP. */
  bindAddress?: string;
  adminPort: number;
  xds: XdsAddress;
}

export function sidecarBootstrap(o: SidecarBootstrapOptions): EnvoyJson {
  const metadata = {
    NAMESPACE: o.namespace,
    LABELS: o.labels,
    SERVICE_ACCOUNT: o.serviceAccount,
    INSTANCE_IPS: o.podIP,
    WORKLOAD_NAME: o.workloadName,
    ISTIO_VERSION: 'tsmesh',
    // Istio's NONE interception mode: no iptables; listeners bind real addresses.
    INTERCEPTION_MODE: 'NONE',
    HTTP_PROXY_PORT: String(o.outboundPort),
    TSMESH_APP_ADDRESS: o.appIP,
    POD_PORTS: JSON.stringify(podPorts(o.ports, o.containerPorts)),
  };
  return bootstrap({
    id: `sidecar~${o.podIP}~${o.pod}.${o.namespace}~${o.namespace}.${DOMAIN_SUFFIX}`,
    cluster: `${o.app}.${o.namespace}`,
    metadata,
    admin: { host: o.appIP, port: o.adminPort },
    xds: o.xds,
  });
}

export function gatewayBootstrap(o: GatewayBootstrapOptions): EnvoyJson {
  const namespace = o.namespace ?? 'istio-system';
  const name = o.name ?? 'istio-ingressgateway';
  const ip = o.bindAddress ?? '127.0.0.1';
  const labels = o.labels ?? { istio: 'ingressgateway', app: name };
  return bootstrap({
    id: `router~${ip}~${name}-1.${namespace}~${namespace}.${DOMAIN_SUFFIX}`,
    cluster: `${name}.${namespace}`,
    metadata: {
      NAMESPACE: namespace,
      LABELS: labels,
      SERVICE_ACCOUNT: `${name}-service-account`,
      INSTANCE_IPS: ip,
      WORKLOAD_NAME: name,
      ISTIO_VERSION: 'tsmesh',
      GATEWAY_BIND_ADDRESS: ip,
    },
    admin: { host: ip, port: o.adminPort },
    xds: o.xds,
  });
}

interface BootstrapParts {
  id: string;
  cluster: string;
  metadata: Record<string, unknown>;
  admin: XdsAddress;
  xds: XdsAddress;
}

function bootstrap(p: BootstrapParts): EnvoyJson {
  return {
    node: { id: p.id, cluster: p.cluster, metadata: p.metadata },
    admin: { address: socketAddress(p.admin) },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
      },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(p.xds) } }] }],
          },
          // ADS is gRPC, so HTTP/2 to the control plane.
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
      ],
    },
  };
}

function socketAddress(a: XdsAddress): EnvoyJson {
  return { socket_address: { address: a.host, port_value: a.port } };
}

/** Istio's POD_PORTS: the container ports as `[{"name":"http","containerPort":9080,"protocol":"TCP"}]`. */
function podPorts(named: Record<string, number>, all: number[]): Array<Record<string, unknown>> {
  const byPort = new Map<number, string>();
  for (const [name, port] of Object.entries(named)) byPort.set(port, name);
  return all.map((port) => ({ ...(byPort.has(port) ? { name: byPort.get(port) } : {}), containerPort: port, protocol: 'TCP' }));
}

export function writeBootstrap(file: string, json: EnvoyJson): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(json, null, 2) + '\n');
}
