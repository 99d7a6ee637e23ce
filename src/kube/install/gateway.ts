/**
 * The ingress gateway, as Istio's default profile installs it: Deployment, Service and
 * ServiceAccount `istio-ingressgateway` (SA istio-ingressgateway-service-account) labelled
 * istio=ingressgateway, so Istio's samples (bookinfo-gateway.yaml's `selector: istio:
 * ingressgateway`) bind to it. Service ports 80/443 go to 8080/8443 (the proxy runs unprivileged)
 * and 15021 is the health port; Gateway servers on 80/443 listen on the targetPorts as in Istio.
 */
import { commonLabels, INGRESS_GATEWAY, INGRESS_GATEWAY_SA, istiodName, revLabel } from './names.ts';
import { imageOf, type InstallValues } from './values.ts';
import type { KubeObject } from './types.ts';
import { restrictedSecurityContext } from './security_context.ts';

export const GATEWAY_PORTS = [
  { name: 'status-port', port: 15021, targetPort: 15021 },
  { name: 'http2', port: 80, targetPort: 8080 },
  { name: 'https', port: 443, targetPort: 8443 },
] as const;

export function ingressGatewayObjects(v: InstallValues): KubeObject[] {
  const selector = { app: INGRESS_GATEWAY, istio: 'ingressgateway' };
  const labels = { ...commonLabels(v, 'IngressGateways'), ...selector };
  const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: INGRESS_GATEWAY_SA, namespace: v.namespace, labels } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: INGRESS_GATEWAY, namespace: v.namespace, labels },
      spec: {
        selector: { matchLabels: selector },
        template: {
          metadata: {
            labels: { ...labels, 'sidecar.istio.io/inject': 'false', 'service.istio.io/canonical-name': INGRESS_GATEWAY },
            annotations: { 'prometheus.io/port': '15020', 'prometheus.io/scrape': 'true', 'prometheus.io/path': '/stats/prometheus' },
          },
          spec: {
            serviceAccountName: INGRESS_GATEWAY_SA,
            containers: [
              {
                name: 'istio-proxy',
                image: imageOf(v),
                // $(VAR) is expanded by the kubelet from env below.
                args: [
                  'proxy', '--type', 'router',
                  '--discovery-address', `${istiodName(v)}.${v.namespace}.svc:15012`,
                  '--workload-name', INGRESS_GATEWAY,
                  '--pod-name', '$(POD_NAME)',
                  '--namespace', '$(POD_NAMESPACE)',
                  '--ip', '$(INSTANCE_IP)',
                  '--service-account', '$(SERVICE_ACCOUNT)',
                  '--labels', `app=${INGRESS_GATEWAY},istio=ingressgateway`,
                  '--status-port', '15020',
                  '--readiness-port', '15021',
                ],
                ports: [
                  { name: 'http-envoy-prom', containerPort: 15090, protocol: 'TCP' },
                  ...GATEWAY_PORTS.map((p) => ({ containerPort: p.targetPort, protocol: 'TCP' })),
                ],
                env: [
                  fieldEnv('POD_NAME', 'metadata.name'),
                  fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
                  fieldEnv('INSTANCE_IP', 'status.podIP'),
                  fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
                  { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
                  { name: 'ISTIO_META_ROUTER_MODE', value: 'standard' },
                  { name: 'REVISION', value: revLabel(v) },
                ],
                readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021, scheme: 'HTTP' }, initialDelaySeconds: 1, periodSeconds: 2, failureThreshold: 30 },
                securityContext: restrictedSecurityContext(),
                volumeMounts: [{ name: 'istio-token', mountPath: '/var/run/secrets/tokens', readOnly: true }],
              },
            ],
            volumes: [
              // The CSR credential: a service-account token for audience istio-ca (TokenReview).
              { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: INGRESS_GATEWAY, namespace: v.namespace, labels },
      spec: {
        type: 'LoadBalancer',
        selector,
        ports: GATEWAY_PORTS.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort, protocol: 'TCP' })),
      },
    },
  ];
}
