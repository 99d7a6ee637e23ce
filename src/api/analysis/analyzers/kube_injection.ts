/**
 * injection.Analyzer: every Namespace (but Istio's own) should say whether it wants sidecars
 * (IST0102 NamespaceNotInjected; IST0148 when the injector enables namespaces by default), with
 * one kind of injection label only (IST0123); and every Pod of a namespace with
 * `istio-injection=enabled` should have its `istio-proxy` container (IST0103 PodMissingProxy),
 * unless it opts out or runs on the host network. Ambient namespaces need no sidecars.
 */
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { arr, obj } from './wl_util.ts';
import { kubeList } from './kube_util.ts';

const INJECTION_LABEL = 'istio-injection';
const REVISION_LABEL = 'istio.io/rev';
const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';
const SIDECAR_INJECT = 'sidecar.istio.io/inject';
const ISTIO_SYSTEM = 'istio-system';

function injectorConfigMapName(revision: string | undefined): string {
  return !revision || revision === 'default' ? 'istio-sidecar-injector' : `istio-sidecar-injector-${revision}`;
}

/** `values.sidecarInjectorWebhook.enableNamespacesByDefault` of the injector ConfigMap (its `values` key is JSON). */
function enableNamespacesByDefault(cm: Resource): boolean {
  try {
    const values = JSON.parse(String(obj(cm.object.data).values ?? ''));
    return obj(obj(values).sidecarInjectorWebhook).enableNamespacesByDefault === true;
  } catch {
    return false;
  }
}

/** The injection labels a namespace carries that can conflict (a revision or dataplane mode counts unless injection is set otherwise). */
function injectionLabels(ns: Resource): string[] {
  const out: string[] = [];
  const inj = ns.labels[INJECTION_LABEL];
  if (inj !== undefined) out.push(`${INJECTION_LABEL}=${inj}`);
  for (const l of [REVISION_LABEL, DATAPLANE_MODE_LABEL]) {
    if (l in ns.labels && (inj === undefined || inj === 'enabled')) out.push(`${l}=${ns.labels[l]}`);
  }
  return out;
}

function hasProxy(pod: Resource): boolean {
  const containers = [...arr(pod.spec.containers), ...arr(pod.spec.initContainers)];
  const proxy = containers.find((c) => obj(c).name === 'istio-proxy');
  return !!proxy && typeof obj(proxy).image === 'string' && obj(proxy).image !== '';
}

export const injectionAnalyzer: Analyzer = {
  name: 'injection.Analyzer',
  description: 'Checks conditions related to Istio sidecar injection',
  analyze(ctx: AnalysisContext) {
    const injected = new Set<string>();
    const configMaps = kubeList(ctx, 'ConfigMap');
    // As istioctl: the last injector ConfigMap found stays in effect for namespaces whose revision has none.
    let byDefault = false;
    for (const ns of kubeList(ctx, 'Namespace')) {
      if (ns.name === ISTIO_SYSTEM) continue;
      const labels = injectionLabels(ns);
      if (labels.length > 1) ctx.report('NamespaceMultipleInjectionLabels', ns, [labels]);
      if (ns.labels[DATAPLANE_MODE_LABEL] === 'ambient') continue;
      const cm = configMaps.find((c) => c.name === injectorConfigMapName(ns.labels[REVISION_LABEL]));
      if (cm) byDefault = enableNamespacesByDefault(cm);
      const inj = ns.labels[INJECTION_LABEL] ?? '';
      if (inj === '' && !(REVISION_LABEL in ns.labels)) {
        if (byDefault) ctx.report('NamespaceInjectionEnabledByDefault', ns, []);
        else ctx.report('NamespaceNotInjected', ns, [ns.name, ns.name], 'metadata.name');
        continue;
      }
      if (inj === 'enabled') injected.add(ns.name);
    }
    for (const pod of kubeList(ctx, 'Pod')) {
      if (!injected.has(pod.namespace)) continue;
      const inject = pod.labels[SIDECAR_INJECT] ?? pod.annotations[SIDECAR_INJECT] ?? '';
      if (inject.toLowerCase() === 'false' || pod.spec.hostNetwork === true) continue;
      if (!hasProxy(pod)) ctx.report('PodMissingProxy', pod, [`${pod.namespace}/${pod.name}`]);
    }
  },
};
