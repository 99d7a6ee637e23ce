/**
 * sidecar.SelectorAnalyzer: a Sidecar's workloadSelector must pick a Pod of its namespace
 * (IST0101 "selector"); no Pod may be picked by two Sidecars (IST0110), and a namespace may have
 * one Sidecar without a selector only (IST0111). A Sidecar on ambient Pods or namespaces has no
 * effect (IST0167).
 */
import { child } from '../../paths.ts';
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { obj, sortStrings } from './wl_util.ts';
import { findNamespace, kubeList, labelMap, selectorString, selects, workloadPods } from './kube_util.ts';

function podInAmbient(pod: Resource): boolean {
  return pod.annotations['ambient.istio.io/redirection'] === 'enabled';
}

function namespaceInAmbient(ns: Resource | undefined): boolean {
  if (!ns) return false;
  if (ns.labels['istio-injection'] === 'enabled') return false;
  if (ns.labels['istio.io/rev']) return false;
  return ns.labels['istio.io/dataplane-mode'] === 'ambient';
}

export const sidecarSelectorAnalyzer: Analyzer = {
  name: 'sidecar.SelectorAnalyzer',
  description: "Validates that sidecars that define a workload selector match at least one pod, and that there aren't multiple sidecar resources that select overlapping pods",
  analyze(ctx: AnalysisContext) {
    const pods = workloadPods(ctx);
    const sidecarsOfPod = new Map<Resource, Resource[]>();
    const unselectedByNs = new Map<string, Resource[]>();
    for (const sc of ctx.list('networking.istio.io/Sidecar')) {
      const sel = labelMap(obj(sc.spec.workloadSelector).labels);
      if (Object.keys(sel).length === 0) {
        unselectedByNs.set(sc.namespace, [...(unselectedByNs.get(sc.namespace) ?? []), sc]);
        continue;
      }
      const picked = pods.filter((p) => p.namespace === sc.namespace && selects(sel, p.labels));
      for (const p of picked) sidecarsOfPod.set(p, [...(sidecarsOfPod.get(p) ?? []), sc]);
      if (picked.length === 0) {
        const first = Object.keys(sel).sort()[0];
        ctx.report('ReferencedResourceNotFound', sc, ['selector', selectorString(sel)], child('spec.workloadSelector.labels', first));
      }
    }
    const reported = new Set<Resource>();
    const ineffective = (sc: Resource, why: string) => {
      if (reported.has(sc)) return;
      reported.add(sc);
      ctx.report('IneffectivePolicy', sc, [why]);
    };
    for (const [pod, scs] of sidecarsOfPod) {
      if (podInAmbient(pod)) {
        for (const sc of scs) ineffective(sc, 'selected workload is in ambient mode, the policy has no impact');
        continue;
      }
      if (scs.length === 1) continue;
      const names = sortStrings(scs.map((s) => s.name));
      for (const sc of scs) ctx.report('ConflictingSidecarWorkloadSelectors', sc, [names, pod.namespace, pod.name], 'metadata.name');
    }
    for (const [ns, scs] of unselectedByNs) {
      if (namespaceInAmbient(findNamespace(ctx, ns))) {
        for (const sc of scs) ineffective(sc, 'namespace is in ambient mode, the policy has no impact');
        continue;
      }
      if (scs.length > 1) {
        const names = sortStrings(scs.map((s) => s.name));
        for (const sc of scs) ctx.report('MultipleSidecarsWithoutWorkloadSelectors', sc, [names, ns]);
      }
    }
  },
};
