/**
 * The YAML integration tests keep writing: a Kubernetes Service whose endpoints are
 * WorkloadEntries (how a backend joins the mesh without Kubernetes). Istio's field names.
 */

export interface BackendWorkload {
  name: string;
  address: string;
  /** Labels besides `app` (which is the service name), e.g. { version: 'v1' }. */
  labels?: Record<string, string>;
  /** Port the workload listens on for the service's port. */
  port: number;
}

/**
 * A Service `name` in `namespace` with one port (`portName`/`servicePort`), selecting `app: name`,
 * plus one WorkloadEntry per workload.
 */
export function serviceWithWorkloads(o: { name: string; namespace?: string; portName?: string; servicePort: number; workloads: BackendWorkload[] }): string {
  const ns = o.namespace ?? 'default';
  const portName = o.portName ?? 'http';
  const docs = [
    `apiVersion: v1
kind: Service
metadata: { name: ${o.name}, namespace: ${ns} }
spec:
  selector: { app: ${o.name} }
  ports: [{ name: ${portName}, port: ${o.servicePort} }]
`,
    ...o.workloads.map(
      (w) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ${w.name}, namespace: ${ns} }
spec: { address: ${w.address}, labels: ${JSON.stringify({ app: o.name, ...(w.labels ?? {}) })}, ports: { ${portName}: ${w.port} } }
`,
    ),
  ];
  return docs.join('---\n');
}

/** A Kubernetes Service `name` in `default` selecting `app: name`, one port (80 → 8080 by default). */
export function kubeService(name: string, o: { portName?: string; port?: number; targetPort?: number } = {}): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  selector: { app: ${name} }
  ports: [{ name: ${o.portName ?? 'http'}, port: ${o.port ?? 80}, targetPort: ${o.targetPort ?? 8080} }]
`;
}

/**
 * PeerAuthentication DISABLE for the pods labelled `app: name` in `default`: their inbound
 * listeners need no SDS secret, so a config change is warm at once.
 */
export function plaintextPeers(name: string): string {
  return `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: ${name}, namespace: default }
spec:
  selector: { matchLabels: { app: ${name} } }
  mtls: { mode: DISABLE }
`;
}

/** A DestinationRule for `name` in `default` with one subset per version (label `version`). */
export function versionSubsets(name: string, versions: readonly string[] = ['v1', 'v2']): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: default }
spec:
  host: ${name}.default.svc.cluster.local
  subsets:
${versions.map((v) => `  - { name: ${v}, labels: { version: ${v} } }`).join('\n')}
`;
}

/** The echo service most mesh tests route: port 80 → 8080, subsets v1 and v2. */
export const ECHO_WITH_SUBSETS = `${kubeService('echo')}---\n${versionSubsets('echo')}`;

/**
 * An ingress Gateway `name` (selector istio: ingressgateway) with one plaintext HTTP server on
 * `port` for every host, and a VirtualService sending all of it to `service`:`servicePort`.
 */
export function httpGatewayTo(o: { name: string; port: number; service: string; servicePort: number }): string {
  return `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: ${o.name}, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: ${o.port}, name: http, protocol: HTTP }
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${o.service}, namespace: default }
spec:
  hosts: ["*"]
  gateways: [${o.name}]
  http:
  - route: [{ destination: { host: ${o.service}, port: { number: ${o.servicePort} } } }]
`;
}
