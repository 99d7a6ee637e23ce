/**
 * The sidecar injection transform (Istio's injector): a pod in, the injected pod out. Pure and
 * deterministic; the webhook and `tsmesh kube-inject` both call it, so the pod the API server
 * stores and the one kube-inject prints are the same.
 */
import { mergedMetricsAnnotations, prometheusAnnotationsEnv } from '../../agent/status_server.ts';
import { initContainer } from './capture.ts';
import { injectionRequired, STATUS_ANNOTATION } from './decision.ts';
import { cloneJson, type Container, type Pod } from './objects.ts';
import { rewriteEnabled, rewriteProbes, STATUS_PORT } from './probes.ts';
import { PROXY_CONFIG_ANNOTATION, podProxyConfig } from './proxy_config.ts';
import { proxyResources, RESOURCE_ANNOTATIONS, resourceAnnotationProblem } from './resources.ts';
import { REWRITE_PROBES_ANNOTATION } from './probes.ts';
import { ANNOTATIONS as CAPTURE_ANNOTATIONS } from '../../agent/capture/annotations.ts';
import { INJECT_KEY } from '../../demo/injection.ts';
import type { InjectionSettings } from './settings.ts';
import { proxyContainer, sidecarVolumes, waitForProxyLifecycle } from './sidecar.ts';
import { ownerUri, workloadOfPod, type WorkloadRef } from './workload.ts';

export const IMAGE_ANNOTATION = 'sidecar.istio.io/proxyImage';
export const REVISION_ANNOTATION = 'istio.io/rev';
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';
export const DEFAULT_LOGS_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-logs-container';
export const MERGE_METRICS_ANNOTATION = 'prometheus.istio.io/merge-metrics';
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';
export const CANONICAL_NAME_LABEL = 'service.istio.io/canonical-name';
export const CANONICAL_REVISION_LABEL = 'service.istio.io/canonical-revision';

/** Labels controllers stamp per rollout or per pod: not workload identity, so not node metadata. */
const CONTROLLER_LABELS = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'controller-uid',
  'job-name',
  'batch.kubernetes.io/controller-uid',
  'batch.kubernetes.io/job-name',
  'batch.kubernetes.io/job-completion-index',
]);

export interface InjectInput {
  pod: Pod;
  /** The pod's namespace (the request's, for the webhook). */
  namespace: string;
  settings: InjectionSettings;
  /** The workload when known outright (kube-inject); else found from the pod's controller. */
  workload?: WorkloadRef;
  /** The namespace's labels when known; see decision.ts. */
  namespaceLabels?: Record<string, string>;
}

export type InjectResult =
  /** warnings: annotations the pod carries that the injector does not act on (admission warnings). */
  | { ok: true; injected: true; pod: Pod; warnings: string[] }
  | { ok: true; injected: false; pod: Pod; reason: string }
  | { ok: false; error: string };

export function injectPod(input: InjectInput): InjectResult {
  const { settings, namespace } = input;
  const decision = injectionRequired(input.pod.metadata ?? {}, input.pod.spec, namespace, settings, input.namespaceLabels);
  if (!decision.sidecar) return { ok: true, injected: false, pod: input.pod, reason: decision.reason };

  const pod = cloneJson(input.pod);
  const meta = (pod.metadata ??= {});
  const annotations = (meta.annotations ??= {});
  const labels = (meta.labels ??= {});
  const spec = pod.spec;

  const pcResult = podProxyConfig(annotations, settings);
  if (!pcResult.ok) return pcResult;
  const pc = pcResult.config;
  const resourceProblem = resourceAnnotationProblem(annotations);
  if (resourceProblem) return { ok: false, error: resourceProblem };
  const image = annotations[IMAGE_ANNOTATION] ?? settings.image;
  const workload = input.workload ?? workloadOfPod(meta);
  const appContainers = spec.containers.map((c) => c.name);

  let appProbers: string | undefined;
  if (rewriteEnabled(annotations, settings.rewriteAppProbes)) {
    const probers = rewriteProbes(spec.containers);
    if (Object.keys(probers).length) appProbers = JSON.stringify(probers);
  }

  let prometheusAnnotations: string | undefined;
  if (settings.prometheusMerge && annotations[MERGE_METRICS_ANNOTATION] !== 'false' && annotations['prometheus.io/scrape'] !== 'false') {
    prometheusAnnotations = prometheusAnnotationsEnv(annotations);
    Object.assign(annotations, mergedMetricsAnnotations(STATUS_PORT));
  }

  labels[TLS_MODE_LABEL] ??= 'istio';
  labels[CANONICAL_NAME_LABEL] ??= labels['app.kubernetes.io/name'] ?? labels.app ?? workload.name;
  labels[CANONICAL_REVISION_LABEL] ??= labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest';
  const proxyLabels = Object.fromEntries(Object.entries(labels).filter(([k]) => !CONTROLLER_LABELS.has(k)));

  const ports = [...new Set(spec.containers.flatMap((c) => (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort)))];
  const resources = proxyResources(annotations, settings);
  const proxy = proxyContainer({
    settings,
    pc,
    image,
    workloadName: workload.name,
    owner: ownerUri(workload, namespace),
    labels: proxyLabels,
    ports,
    appContainers,
    resources,
    ...(appProbers ? { appProbers } : {}),
    ...(prometheusAnnotations ? { prometheusAnnotations } : {}),
  });

  let init: Container | undefined;
  if (pc.interceptionMode !== 'NONE' && !settings.cni) {
    const r = initContainer(annotations, pc, settings, image);
    if (!r.ok) return r;
    init = r.container;
  }

  const appInits = spec.initContainers ?? [];
  if (settings.nativeSidecars) {
    // Native sidecar: started after istio-init and before the app's own init containers (which
    // then have the mesh), kept running, and stopped after the app containers (Jobs complete).
    proxy.restartPolicy = 'Always';
    spec.initContainers = [...(init ? [init] : []), proxy, ...appInits];
  } else {
    // istio-init last, so the app's init containers run before capture starts (Istio's order).
    if (init) spec.initContainers = [...appInits, init];
    if (pc.holdApplicationUntilProxyStarts) {
      proxy.lifecycle = waitForProxyLifecycle();
      spec.containers = [proxy, ...spec.containers];
    } else spec.containers = [...spec.containers, proxy];
  }
  const volumes = sidecarVolumes();
  spec.volumes = [...(spec.volumes ?? []), ...volumes];

  annotations[REVISION_ANNOTATION] ??= settings.revision;
  if (appContainers[0] !== undefined) {
    annotations[DEFAULT_CONTAINER_ANNOTATION] ??= appContainers[0];
    annotations[DEFAULT_LOGS_CONTAINER_ANNOTATION] ??= appContainers[0];
  }
  const initNames = (spec.initContainers ?? []).filter((c) => c === init || c === proxy).map((c) => c.name);
  const containerNames = spec.containers.filter((c) => c === proxy).map((c) => c.name);
  annotations[STATUS_ANNOTATION] = JSON.stringify({
    initContainers: initNames.length ? initNames : null,
    containers: containerNames.length ? containerNames : null,
    volumes: volumes.map((v) => v.name),
    imagePullSecrets: null,
    revision: settings.revision,
  });
  return { ok: true, injected: true, pod, warnings: unhandledAnnotations(input.pod.metadata?.annotations ?? {}) };
}

/** The injector's own annotation families; a key in one of them that it does not read is warned about. */
const INJECTOR_PREFIXES = ['sidecar.istio.io/', 'traffic.sidecar.istio.io/', 'status.sidecar.istio.io/', 'readiness.status.sidecar.istio.io/', 'inject.istio.io/', 'proxy.istio.io/'];
const HANDLED = new Set<string>([
  INJECT_KEY,
  STATUS_ANNOTATION,
  IMAGE_ANNOTATION,
  PROXY_CONFIG_ANNOTATION,
  REWRITE_PROBES_ANNOTATION,
  ...Object.values(RESOURCE_ANNOTATIONS),
  ...Object.values(CAPTURE_ANNOTATIONS),
]);

/** One warning per annotation the pod sets that tsmesh's injector accepts but does not act on. */
export function unhandledAnnotations(annotations: Record<string, string>): string[] {
  return Object.keys(annotations)
    .filter((k) => INJECTOR_PREFIXES.some((p) => k.startsWith(p)) && !HANDLED.has(k))
    .sort()
    .map((k) => `annotation ${k} is not acted on by tsmesh's injector; the pod is injected as if it were unset`);
}
