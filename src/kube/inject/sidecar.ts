/**
 * The istio-proxy container and the volumes it mounts, Istio's injection template in tsmesh's
 * terms: the image's entrypoint is `tsmesh`, so args start with `proxy`; the pod's identity
 * comes from the downward API through $(VAR) references Kubernetes expands in args.
 */
import type { Container } from './objects.ts';
import type { PodProxyConfig } from './proxy_config.ts';
import type { InjectionSettings } from './settings.ts';

export const PROXY_CONTAINER_NAME = 'istio-proxy';
export const PROXY_UID = 1337;
export const READINESS_PORT = 15021;
export const TOKEN_PATH = '/var/run/secrets/tokens/istio-token';
export const ROOT_CERT_PATH = '/var/run/secrets/istio/root-cert.pem';

/** Volumes the sidecar mounts, in Istio's order (the status annotation lists them). */
export function sidecarVolumes(): Array<{ name: string; [k: string]: unknown }> {
  return [
    { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
    { name: 'istio-data', emptyDir: {} },
    {
      name: 'istio-podinfo',
      downwardAPI: {
        items: [
          { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
          { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
        ],
      },
    },
    { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] } },
    { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
  ];
}

const MOUNTS = [
  { name: 'istio-envoy', mountPath: '/etc/istio/proxy' },
  { name: 'istio-data', mountPath: '/var/lib/istio/data' },
  { name: 'istio-podinfo', mountPath: '/etc/istio/pod' },
  { name: 'istio-token', mountPath: '/var/run/secrets/tokens' },
  { name: 'istiod-ca-cert', mountPath: '/var/run/secrets/istio' },
];

export interface ProxyContainerInput {
  settings: InjectionSettings;
  pc: PodProxyConfig;
  image: string;
  workloadName: string;
  owner: string;
  /** The pod's labels as the proxy reports them (node metadata LABELS). */
  labels: Record<string, string>;
  /** Ports the app containers declare (inbound listeners). */
  ports: number[];
  appContainers: string[];
  resources: Record<string, Record<string, string>>;
  /** ISTIO_KUBE_APP_PROBERS, when probes were rewritten. */
  appProbers?: string;
  /** ISTIO_PROMETHEUS_ANNOTATIONS, when the app asked for a scrape. */
  prometheusAnnotations?: string;
}

export function proxyContainer(i: ProxyContainerInput): Container {
  const { settings, pc } = i;
  const labels = Object.entries(i.labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const args = [
    'proxy',
    '--discovery-address', settings.discoveryAddress,
    '--workload-name', i.workloadName,
    '--pod-name', '$(POD_NAME)',
    '--namespace', '$(POD_NAMESPACE)',
    '--ip', '$(INSTANCE_IP)',
    '--service-account', '$(SERVICE_ACCOUNT)',
    ...(labels ? ['--labels', labels] : []),
    ...(i.ports.length ? ['--ports', i.ports.join(',')] : []),
    '--token-file', TOKEN_PATH,
    '--ca-root-cert', ROOT_CERT_PATH,
    '--trust-domain', settings.trustDomain,
    '--status-port', '15020',
    '--readiness-port', String(READINESS_PORT),
    ...(pc.concurrency !== undefined ? ['--concurrency', String(pc.concurrency)] : []),
    ...(pc.drainSeconds !== undefined ? ['--drain-time-s', String(pc.drainSeconds)] : []),
  ];
  const field = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });
  const env: Container['env'] = [
    field('POD_NAME', 'metadata.name'),
    field('POD_NAMESPACE', 'metadata.namespace'),
    field('INSTANCE_IP', 'status.podIP'),
    field('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    field('HOST_IP', 'status.hostIP'),
    { name: 'PROXY_CONFIG', value: JSON.stringify(pc.merged) },
    { name: 'ISTIO_META_APP_CONTAINERS', value: i.appContainers.join(',') },
    { name: 'ISTIO_META_CLUSTER_ID', value: settings.clusterId },
    { name: 'ISTIO_META_INTERCEPTION_MODE', value: pc.interceptionMode },
    { name: 'ISTIO_META_WORKLOAD_NAME', value: i.workloadName },
    { name: 'ISTIO_META_OWNER', value: i.owner },
    { name: 'ISTIO_META_MESH_ID', value: settings.meshId },
    ...(i.prometheusAnnotations ? [{ name: 'ISTIO_PROMETHEUS_ANNOTATIONS', value: i.prometheusAnnotations }] : []),
    ...(i.appProbers ? [{ name: 'ISTIO_KUBE_APP_PROBERS', value: i.appProbers }] : []),
    // ProxyConfig.proxyMetadata becomes the agent's environment, as Istio's template does.
    ...Object.entries(pc.proxyMetadata).map(([name, value]) => ({ name, value })),
  ];
  const probe = () => ({ httpGet: { path: '/healthz/ready', port: READINESS_PORT } });
  const c: Container = {
    name: PROXY_CONTAINER_NAME,
    image: i.image,
    ...(settings.imagePullPolicy ? { imagePullPolicy: settings.imagePullPolicy } : {}),
    args,
    env,
    ports: [{ name: 'http-envoy-prom', containerPort: 15090, protocol: 'TCP' }],
    // Startup probe: kubelet starts the app containers after a native sidecar has started (ready).
    startupProbe: { ...probe(), initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 },
    readinessProbe: { ...probe(), initialDelaySeconds: 0, periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 },
    resources: i.resources,
    securityContext:
      pc.interceptionMode === 'TPROXY'
        ? // TPROXY: the proxy binds transparently (IP_TRANSPARENT) to keep source addresses, which needs root and NET_ADMIN (as Istio's template).
          { allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true, runAsGroup: PROXY_UID, runAsNonRoot: false, runAsUser: 0 }
        : { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true, runAsGroup: PROXY_UID, runAsNonRoot: true, runAsUser: PROXY_UID },
    volumeMounts: MOUNTS.map((m) => ({ ...m })),
  };
  return c;
}

/**
 * Istio's `pilot-agent wait` as a postStart hook, for a regular-container sidecar with
 * holdApplicationUntilProxyStarts: the kubelet starts the next container only when the hook
 * returns, i.e. once the proxy answers ready (or after 60 s, failing the hook). Plain node so
 * the image needs nothing more.
 */
export const WAIT_FOR_PROXY_SCRIPT =
  "const h=require('http'),ip=process.env.INSTANCE_IP||'127.0.0.1',end=Date.now()+60000;" +
  "function retry(){if(Date.now()>end){console.error('istio-proxy not ready on '+ip+':15021 within 60s');process.exit(1)}setTimeout(poll,500)}" +
  "function poll(){const q=h.get({host:ip,port:15021,path:'/healthz/ready',timeout:2000},r=>{r.resume();r.statusCode===200?process.exit(0):retry()});q.on('timeout',()=>q.destroy(new Error('timeout')));q.on('error',retry)}" +
  'poll()';

export function waitForProxyLifecycle(): Record<string, unknown> {
  return { postStart: { exec: { command: ['node', '-e', WAIT_FOR_PROXY_SCRIPT] } } };
}
