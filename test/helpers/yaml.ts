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
