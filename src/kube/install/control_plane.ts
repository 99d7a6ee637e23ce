/**
 * istiod's objects: its Namespace, ServiceAccount, mesh config ConfigMap, Deployment and Service.
 *
 * Image layout (one image for every component, since images cannot be built or pulled on the
 * machines that test this): `<hub>/tsmesh:<tag>` (default `tsmesh/tsmesh:<package version>`) is
 * a Node.js >= 22 base image with the tsmesh package at /app (`npm ci --omit=dev`, dist/ built),
 * entrypoint `node /app/bin/tsmesh.js`. Each component only differs by its arguments:
 * `controlplane` here, `proxy --type router` for gateways, and what the injector writes for
 * sidecars (`proxy`) and the init container (`init`). Override it with `--set hub=... --set
 * tag=...` or `--set values.pilot.image=<full image>`.
 */
import { commonLabels, istiodName, meshConfigMapName, revised, revLabel } from './names.ts';
import { imageOf, type InstallValues } from './values.ts';
import type { KubeObject } from './types.ts';
import { restrictedSecurityContext } from './security_context.ts';
import { stringify } from 'yaml';
import { CONTROLPLANE_ENV, CONTROLPLANE_NODE_FLAGS, nodeOptionsFlags } from '../../common/self_command.ts';

/** istiod's ports, as Istio's Service names them (443 is the webhooks' port, served on 15017). */
export const ISTIOD_PORTS = [
  { name: 'grpc-xds', port: 15010, targetPort: 15010 },
  { name: 'https-dns', port: 15012, targetPort: 15012 },
  { name: 'https-webhook', port: 443, targetPort: 15017 },
  { name: 'http-monitoring', port: 15014, targetPort: 15014 },
] as const;

export function controlPlaneObjects(v: InstallValues): KubeObject[] {
  const name = istiodName(v);
  const labels = { ...commonLabels(v, 'Pilot'), app: 'istiod', istio: 'pilot' };
  const selector = { app: 'istiod', 'istio.io/rev': revLabel(v) };
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name, namespace: v.namespace, labels },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: meshConfigMapName(v), namespace: v.namespace, labels },
      // Istio's layout: the MeshConfig YAML under `mesh`, MeshNetworks under `meshNetworks`.
      data: { mesh: stringify({ rootNamespace: v.namespace, ...v.meshConfig }), meshNetworks: 'networks: {}\n' },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: revised('istio-sidecar-injector', v), namespace: v.namespace, labels },
      // Istio's injection values as JSON text under `values` (what src/kube/inject/values.ts
      // reads): the sidecar runs the same image as the control plane.
      data: { values: JSON.stringify({ global: { istioNamespace: v.namespace, proxy: { image: imageOf(v) } }, revision: v.revision }, null, 2) },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: v.namespace, labels },
      spec: {
        replicas: v.replicas,
        selector: { matchLabels: selector },
        strategy: { rollingUpdate: { maxSurge: '100%', maxUnavailable: '25%' } },
        template: {
          metadata: {
            labels: { ...labels, ...selector, 'sidecar.istio.io/inject': 'false' },
            annotations: { 'prometheus.io/port': '15014', 'prometheus.io/scrape': 'true', 'sidecar.istio.io/inject': 'false' },
          },
          spec: {
            serviceAccountName: name,
            containers: [
              {
                name: 'discovery',
                image: imageOf(v),
                // No --kubeconfig: in a pod the control plane is to use the in-cluster config
                // (the ServiceAccount token and KUBERNETES_SERVICE_HOST). The mesh config is
                // the `istio` ConfigMap, read through the API (mounted too, for reading by hand).
                args: ['controlplane', '--address', '0.0.0.0', '--state-dir', '/var/lib/tsmesh'],
                ports: ISTIOD_PORTS.map((p) => ({ name: p.name, containerPort: p.targetPort, protocol: 'TCP' })),
                env: [
                  // The same runtime settings `tsmesh controlplane` gets when tsmesh starts it
                  // (self_command.ts): what node takes in NODE_OPTIONS here, the rest added by the
                  // process itself at start-up (bin/node_runtime.mjs).
                  { name: 'NODE_OPTIONS', value: nodeOptionsFlags(CONTROLPLANE_NODE_FLAGS).join(' ') },
                  ...Object.entries(CONTROLPLANE_ENV).map(([name, value]) => ({ name, value })),
                  { name: 'REVISION', value: revLabel(v) },
                  { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
                  { name: 'SERVICE_ACCOUNT', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.serviceAccountName' } } },
                ],
                readinessProbe: { httpGet: { path: '/ready', port: 15014 }, initialDelaySeconds: 1, periodSeconds: 3, timeoutSeconds: 5 },
                resources: { requests: { cpu: '500m', memory: '2048Mi' } },
                securityContext: restrictedSecurityContext(),
                volumeMounts: [
                  { name: 'config-volume', mountPath: '/etc/istio/config', readOnly: true },
                  { name: 'state', mountPath: '/var/lib/tsmesh' },
                  { name: 'istio-token', mountPath: '/var/run/secrets/tokens', readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'config-volume', configMap: { name: meshConfigMapName(v) } },
              // Scratch state (the workload-token signing key); the CA itself lives in Secret istio-ca-secret, or a plugged-in cacerts Secret, shared by every replica.
              { name: 'state', emptyDir: {} },
              { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: v.namespace, labels },
      spec: {
        selector,
        ports: ISTIOD_PORTS.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: 'TCP' })),
      },
    },
  ];
}

export function namespaceObject(v: InstallValues): KubeObject {
  // Istio labels its namespace so that discovery selectors and network policies can find it.
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: v.namespace, labels: { 'app.kubernetes.io/managed-by': 'tsmesh' } } };
}
