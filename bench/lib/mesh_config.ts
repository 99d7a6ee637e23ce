/**
 * A synthetic mesh for the control-plane bench, written as Istio/Kubernetes YAML the way a user
 * would keep it: one file per service holding its Service, its WorkloadEntries (the endpoints)
 * and, for a tenth of them, a DestinationRule with v1/v2 subsets and a VirtualService that splits
 * traffic 90/10 between them. One file per service keeps the store's periodic rescan to ~1,000
 * stats a second, and an endpoint change is a rewrite of one small file.
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
  docs.push(`apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  clusterIP: 10.96.${n >> 8}.${n & 255}
  selector:
    app: ${name}
  ports:
  - name: http
    port: ${HTTP_PORT}
    targetPort: ${HTTP_PORT}
  - name: tcp
    port: ${TCP_PORT}
    targetPort: ${TCP_PORT}
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
  return `sidecar~10.200.${k >> 8}.${k & 255}~bench-${k}.${namespace}~${namespace}.svc.cluster.local`;
}
