/**
 * What the injector needs besides the pod: Istio's injection values (the sidecar-injector
 * ConfigMap's `values` and the mesh config's defaultConfig), with Istio's defaults. One object
 * for the webhook and `tsmesh kube-inject`, so both produce the same pod.
 */
import type { MeshConfig } from '../../api/types.ts';
import { TSMESH_VERSION } from '../../common/version.ts';

export type InterceptionMode = 'REDIRECT' | 'TPROXY' | 'NONE';

export interface ProxyResources {
  requests: { cpu?: string; memory?: string };
  limits: { cpu?: string; memory?: string };
}

export interface InjectionSettings {
  /** The image with node and tsmesh; its entrypoint is `tsmesh` (args start with the subcommand). */
  image: string;
  imagePullPolicy?: string;
  /** istiod's xDS (and CA) address as proxies dial it (Istio: istiod.<ns>.svc:15012). */
  discoveryAddress: string;
  /** The revision the pods are injected for (`istio.io/rev`); "default" when none. */
  revision: string;
  trustDomain: string;
  /** ISTIO_META_CLUSTER_ID. */
  clusterId: string;
  /** ISTIO_META_MESH_ID (Istio: the trust domain unless set). */
  meshId: string;
  /**
   * Run the proxy as a native sidecar (an init container with restartPolicy: Always; Kubernetes
   * 1.29+). false for older clusters: Istio's ENABLE_NATIVE_SIDECARS=false.
   */
  nativeSidecars: boolean;
  /** Mesh-wide default of ProxyConfig.holdApplicationUntilProxyStarts. */
  holdApplicationUntilProxyStarts: boolean;
  /** Mesh-wide default ProxyConfig.interceptionMode. */
  interceptionMode: InterceptionMode;
  /** Istio's CNI plugin does the capture: no istio-init container. */
  cni: boolean;
  /** values.sidecarInjectorWebhook.rewriteAppHTTPProbe (Istio default true). */
  rewriteAppProbes: boolean;
  /** meshConfig.enablePrometheusMerge (Istio default true): prometheus.io/* point at the agent. */
  prometheusMerge: boolean;
  /** values.global.proxy.resources. */
  resources: ProxyResources;
  /** values.global.proxy.includeIPRanges etc.: the capture defaults when a pod has no annotation. */
  includeIPRanges: string;
  excludeIPRanges: string;
  includeInboundPorts: string;
  excludeInboundPorts: string;
  /** meshConfig.defaultConfig, merged under each pod's proxy.istio.io/config annotation. */
  defaultProxyConfig: Record<string, unknown>;
  /** Namespaces never injected (Istio: kube-system, kube-public, kube-node-lease, local-path-storage). */
  ignoredNamespaces: string[];
  /**
   * values.sidecarInjectorWebhook.neverInjectSelector / alwaysInjectSelector: Kubernetes label
   * selectors over the pod's labels, consulted when the pod says nothing itself (Istio's order).
   */
  neverInjectSelector: LabelSelector[];
  alwaysInjectSelector: LabelSelector[];
}

/** A Kubernetes LabelSelector (matchLabels and matchExpressions, all of which must hold). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** The image injected pods use: the one image (node + tsmesh) tsmesh install runs, `${hub}/tsmesh:${tag}`. */
export const DEFAULT_IMAGE = `tsmesh/tsmesh:${TSMESH_VERSION}`;
export const DEFAULT_DISCOVERY_ADDRESS = 'istiod.istio-system.svc:15012';

export function defaultInjectionSettings(): InjectionSettings {
  return {
    image: DEFAULT_IMAGE,
    discoveryAddress: DEFAULT_DISCOVERY_ADDRESS,
    revision: 'default',
    trustDomain: 'cluster.local',
    clusterId: 'Kubernetes',
    meshId: 'cluster.local',
    nativeSidecars: true,
    holdApplicationUntilProxyStarts: false,
    interceptionMode: 'REDIRECT',
    cni: false,
    rewriteAppProbes: true,
    prometheusMerge: true,
    // Istio's values.global.proxy.resources.
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2000m', memory: '1024Mi' } },
    includeIPRanges: '*',
    excludeIPRanges: '',
    includeInboundPorts: '*',
    excludeInboundPorts: '',
    defaultProxyConfig: {},
    ignoredNamespaces: ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage'],
    neverInjectSelector: [],
    alwaysInjectSelector: [],
  };
}

/** Settings with the mesh config's trust domain, discovery address and defaultConfig applied. */
export function settingsFromMesh(mesh: MeshConfig, base: InjectionSettings = defaultInjectionSettings()): InjectionSettings {
  const dc = (mesh.defaultConfig ?? {}) as Record<string, unknown>;
  const out: InjectionSettings = { ...base, trustDomain: mesh.trustDomain, defaultProxyConfig: { ...dc } };
  if (base.meshId === base.trustDomain) out.meshId = mesh.trustDomain;
  const meshId = (mesh as unknown as Record<string, unknown>).meshId;
  if (typeof meshId === 'string' && meshId) out.meshId = meshId;
  if (typeof dc.discoveryAddress === 'string' && dc.discoveryAddress) out.discoveryAddress = dc.discoveryAddress;
  if (typeof dc.holdApplicationUntilProxyStarts === 'boolean') out.holdApplicationUntilProxyStarts = dc.holdApplicationUntilProxyStarts;
  if (dc.interceptionMode === 'REDIRECT' || dc.interceptionMode === 'TPROXY' || dc.interceptionMode === 'NONE') out.interceptionMode = dc.interceptionMode;
  const merge = (mesh as unknown as Record<string, unknown>).enablePrometheusMerge;
  if (typeof merge === 'boolean') out.prometheusMerge = merge;
  return out;
}
