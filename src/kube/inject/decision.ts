/**
 * Whether a pod gets a sidecar. The label/annotation and namespace rules are the demo's
 * (src/demo/injection.ts, Istio's injectRequired), so the demo and Kubernetes decide alike; this
 * adds what only a real pod has: hostNetwork pods and Kubernetes' own namespaces are never
 * injected, and a pod that already carries sidecar.istio.io/status is left alone.
 *
 * The webhook is only called for pods its selectors matched (namespace istio-injection=enabled
 * or istio.io/rev, or the pod label sidecar.istio.io/inject=true), and kube-inject has no
 * namespace at all: both pass no namespace labels, which the demo's rule reads as "inject unless
 * the pod says false", Istio's policy: enabled.
 *
 * A pod that says nothing itself (no sidecar.istio.io/inject label or annotation) is then matched
 * against the injection values' neverInjectSelector, then alwaysInjectSelector, as Istio's
 * injectRequired does: the first that matches decides.
 */
import type { Config } from '../../api/types.ts';
import { selectorMatches } from '../../api/namespaces.ts';
import { INJECT_KEY, sidecarInjection, type InjectionDecision } from '../../demo/injection.ts';
import type { ObjectMeta, PodSpec } from './objects.ts';
import type { InjectionSettings } from './settings.ts';

/** The annotation Istio writes on an injected pod (what it injected, JSON). */
export const STATUS_ANNOTATION = 'sidecar.istio.io/status';

export function injectionRequired(meta: ObjectMeta, spec: PodSpec, namespace: string, settings: InjectionSettings, namespaceLabels?: Record<string, string>): InjectionDecision {
  if (spec.hostNetwork) return { sidecar: false, reason: 'the pod uses hostNetwork (a sidecar would capture the node\'s traffic)' };
  if (settings.ignoredNamespaces.includes(namespace)) return { sidecar: false, reason: `namespace ${namespace} is never injected` };
  if (meta.annotations?.[STATUS_ANNOTATION] !== undefined) return { sidecar: false, reason: `already injected (${STATUS_ANNOTATION} is set)` };
  const podSays = meta.labels?.[INJECT_KEY] ?? meta.annotations?.[INJECT_KEY];
  if (podSays === undefined || podSays === '') {
    const labels = meta.labels ?? {};
    const never = settings.neverInjectSelector.findIndex((s) => !emptySelector(s) && selectorMatches(s as never, labels));
    if (never >= 0) return { sidecar: false, reason: `the pod's labels match sidecarInjectorWebhook.neverInjectSelector[${never}]` };
    const always = settings.alwaysInjectSelector.findIndex((s) => !emptySelector(s) && selectorMatches(s as never, labels));
    if (always >= 0) return { sidecar: true, reason: `the pod's labels match sidecarInjectorWebhook.alwaysInjectSelector[${always}]` };
  }
  const workload = { apiVersion: 'v1', kind: 'Pod', metadata: { name: meta.name ?? '', namespace }, spec: { template: { metadata: meta } } } as unknown as Config;
  const namespaces = namespaceLabels ? [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: namespaceLabels }, spec: {} } as unknown as Config] : [];
  const d = sidecarInjection(workload, namespaces);
  // The demo's reason for a missing Namespace speaks of the demo; here it is Istio's default policy.
  return namespaceLabels || !d.sidecar ? d : { sidecar: true, reason: 'injection policy enabled' };
}

/** Istio skips an empty selector (it would match every pod). */
function emptySelector(s: { matchLabels?: object; matchExpressions?: unknown[] }): boolean {
  return Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0;
}
