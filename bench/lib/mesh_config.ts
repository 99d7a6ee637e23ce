/**
 * A synthetic mesh for the control-plane bench, written as Istio YAML the way a user would keep
 * it: one file per service holding its ServiceEntry (selecting workloads by label), its
 * WorkloadEntries (the endpoints) and, for a tenth of them, a DestinationRule with v1/v2 subsets
 * and a VirtualService that splits traffic 90/10 between them. Only Istio kinds, because
 * istiod's file config source (--configDir) reads Istio resources and ignores a Kubernetes
 * Service: both control planes read these same files. One file per service keeps the store's
 * periodic rescan to ~1,000 stats a second, and an endpoint change is a rewrite of one small file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const HTTP_PORT = 8080;
export const TCP_PORT = 9000;

export interface MeshSpec {
  services: number;
  endpointsPerService: number;
  namespaces: number;
}

export interface WrittenMesh {
  files: number;
  resources: number;
  namespaces: string[];
  /** Host name of service `n`. */
  host(n: number): string;
  /** Path of service `n`'s file. */
  file(n: number): string;
  /** Rewrites service `n`'s file with endpoint `i` moved to a new address; returns that address. */
  moveEndpoint(n: number, i: number): string;
}

const ns = (spec: MeshSpec, n: number) => `ns-${n % spec.namespaces}`;

/** 127.a.b.c with c = endpoint index + 1: distinct per (service, endpoint) up to 65k services. */
function endpointAddress(n: number, i: number, moved = false): string {
  return `127.${1 + (n >> 8)}.${n & 255}.${moved ? 200 + i : 1 + i}`;
}

function serviceYaml(spec: MeshSpec, n: number, moved?: number): string {
  const name = `svc-${n}`;
  const namespace = ns(spec, n);
  const docs: string[] = [];
  // What a Kubernetes Service with a selector would be, as a ServiceEntry (istiod and tsmesh
  // both give it the same cluster names: outbound|8080||svc-N.ns-K.svc.cluster.local).
  docs.push(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  hosts:
  - ${name}.${namespace}.svc.cluster.local
  addresses:
  - 10.96.${n >> 8}.${n & 255}
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - name: http
    number: ${HTTP_PORT}
    protocol: HTTP
    targetPort: ${HTTP_PORT}
  - name: tcp
    number: ${TCP_PORT}
    protocol: TCP
    targetPort: ${TCP_PORT}
  workloadSelector:
    labels:
      app: ${name}
`);
  for (let i = 0; i < spec.endpointsPerService; i++) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ${name}-${i}
  namespace: ${namespace}
spec:
  address: ${endpointAddress(n, i, moved === i)}
  labels:
    app: ${name}
    version: v${1 + (i % 2)}
`);
  }
  if (n % 10 === 0) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  host: ${name}.${namespace}.svc.cluster.local
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`);
    docs.push(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  hosts:
  - ${name}.${namespace}.svc.cluster.local
  http:
  - route:
    - destination:
        host: ${name}.${namespace}.svc.cluster.local
        subset: v1
      weight: 90
    - destination:
        host: ${name}.${namespace}.svc.cluster.local
        subset: v2
      weight: 10
`);
  }
  return docs.join('---\n');
}

/** Writes the mesh under `dir` (one sub-directory per namespace). */
export function writeMesh(dir: string, spec: MeshSpec): WrittenMesh {
  const namespaces = Array.from({ length: spec.namespaces }, (_, i) => `ns-${i}`);
  for (const n of namespaces) mkdirSync(join(dir, n), { recursive: true });
  const file = (n: number) => join(dir, ns(spec, n), `svc-${n}.yaml`);
  let resources = 0;
  for (let n = 0; n < spec.services; n++) {
    writeFileSync(file(n), serviceYaml(spec, n));
    resources += 1 + spec.endpointsPerService + (n % 10 === 0 ? 2 : 0);
  }
  return {
    files: spec.services,
    resources,
    namespaces,
    host: (n) => `svc-${n}.${ns(spec, n)}.svc.cluster.local`,
    file,
    moveEndpoint: (n, i) => {
      writeFileSync(file(n), serviceYaml(spec, n, i));
      return endpointAddress(n, i, true);
    },
  };
}

/** Istio-style sidecar node id for simulated client `k`: addresses no WorkloadEntry uses. */
export function sidecarNodeId(k: number, namespace: string): string {
  return `sidecar~${sidecarIp(k)}~bench-${k}-pod.${namespace}~${namespace}.svc.cluster.local`;
}

function sidecarIp(k: number): string {
  return `10.200.${k >> 8}.${k & 255}`;
}

/** The Istio release the simulated sidecars claim to be (istiod adapts its output to ISTIO_VERSION). */
export const SIM_ISTIO_VERSION = '1.31.0';

/**
 * The xDS Node of simulated client `k`, as istio-proxy (pilot-agent + Envoy) sends it for a pod
 * of Deployment `bench-k` in `namespace`: id, cluster, the metadata pilot-agent fills in from the
 * pod (the fields istiod's model.NodeMetadata and tsmesh's parseProxy read), and Envoy's own
 * user agent and client features. Both control planes get exactly this node.
 */
export function sidecarNode(k: number, namespace: string): Record<string, unknown> {
  const workload = `bench-${k}`;
  const pod = `${workload}-pod`;
  return {
    id: sidecarNodeId(k, namespace),
    cluster: `${workload}.${namespace}`,
    metadata: {
      ISTIO_VERSION: SIM_ISTIO_VERSION,
      CLUSTER_ID: 'Kubernetes',
      MESH_ID: 'cluster.local',
      NAMESPACE: namespace,
      NAME: pod,
      WORKLOAD_NAME: workload,
      OWNER: `kubernetes://apis/apps/v1/namespaces/${namespace}/deployments/${workload}`,
      SERVICE_ACCOUNT: 'default',
      INSTANCE_IPS: sidecarIp(k),
      INTERCEPTION_MODE: 'REDIRECT',
      LABELS: {
        app: workload,
        version: 'v1',
        'security.istio.io/tlsMode': 'istio',
        'service.istio.io/canonical-name': workload,
        'service.istio.io/canonical-revision': 'v1',
      },
      APP_CONTAINERS: 'app',
      POD_PORTS: '[{"name":"http","containerPort":8080,"protocol":"TCP"}]',
      ENVOY_PROMETHEUS_PORT: 15090,
      ENVOY_STATUS_PORT: 15021,
      PILOT_SAN: ['istiod.istio-system.svc'],
      PROXY_CONFIG: {
        binaryPath: '/usr/local/bin/envoy',
        configPath: './etc/istio/proxy',
        concurrency: 2,
        controlPlaneAuthPolicy: 'MUTUAL_TLS',
        discoveryAddress: 'istiod.istio-system.svc:15012',
        drainDuration: '45s',
        proxyAdminPort: 15000,
        serviceCluster: 'istio-proxy',
        statNameLength: 189,
        statusPort: 15020,
        terminationDrainDuration: '5s',
      },
    },
    locality: {},
    user_agent_name: 'envoy',
    client_features: ['envoy.lb.does_not_support_overprovisioning', 'envoy.lrs.supports_send_all_clusters', 'xds.config.resource-in-sotw'],
  };
}
