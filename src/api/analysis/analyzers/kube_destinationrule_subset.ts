/**
 * destinationrule.SubsetSelectPodAnalyzer: a DestinationRule's host must be a Service or
 * ServiceEntry host visible from its namespace (IST0174 UnknownDestinationRuleHost), and each
 * subset's labels (with a ServiceEntry's workloadSelector) must select some Pod (IST0173
 * DestinationRuleSubsetNotSelectPods, the cause of 503 "no healthy upstream"). Pods carry their
 * node's locality labels and hostname too, as istiod's endpoints do, so topology subsets match.
 */
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { arr, obj, str } from './wl_util.ts';
import { fqdn } from './hosts.ts';
import { kubeList, labelMap, selects, workloadPods } from './kube_util.ts';

interface HostEntry {
  /** Namespace it is visible in, or '*'. */
  scope: string;
  host: string;
  /** A ServiceEntry's workloadSelector labels ({} for a Kubernetes Service). */
  selector: Record<string, string>;
}

function hostEntries(ctx: AnalysisContext): HostEntry[] {
  const out: HostEntry[] = [];
  for (const se of ctx.list('networking.istio.io/ServiceEntry')) {
    const selector = labelMap(obj(se.spec.workloadSelector).labels);
    const exportTo = arr(se.spec.exportTo).map(str);
    const scopes = exportTo.length === 0 || exportTo.includes('*') ? ['*'] : exportTo.map((e) => (e === '.' ? se.namespace : e));
    for (const h of arr(se.spec.hosts).map(str)) for (const scope of scopes) out.push({ scope, host: fqdn(h, se.namespace, ctx.domainSuffix), selector });
  }
  for (const svc of kubeList(ctx, 'Service')) {
    const ann = svc.annotations['networking.istio.io/exportTo'];
    const list = ann ? ann.split(',').map((s) => s.trim()).filter(Boolean) : [];
    const scopes = list.length === 0 || list.includes('*') ? ['*'] : list.map((e) => (e === '.' ? svc.namespace : e));
    for (const scope of scopes) out.push({ scope, host: `${svc.name}.${svc.namespace}.svc.${ctx.domainSuffix}`, selector: {} });
  }
  return out;
}

/** The entry a DestinationRule's host resolves to, as Istio's analyzers look it up. */
function destinationHost(dr: Resource, entries: HostEntry[], domainSuffix: string): HostEntry | undefined {
  const host = fqdn(str(dr.spec.host), dr.namespace, domainSuffix);
  const exportTo = arr(dr.spec.exportTo).map(str).map((e) => (e === '.' ? dr.namespace : e));
  const scopes = ['*', ...(exportTo.length === 0 ? [dr.namespace] : exportTo)];
  for (const scope of scopes) {
    const e = entries.find((x) => x.scope === scope && x.host === host);
    if (e) return e;
  }
  // A wildcard host of a ServiceEntry visible here covers the rule's host.
  const bare = host.startsWith('*') ? host.slice(1) : host;
  return entries.find((x) => x.host.startsWith('*') && (x.scope === '*' || x.scope === dr.namespace) && bare.endsWith(x.host.slice(1)));
}

/** A Pod's labels plus its node's locality and hostname labels. */
function podLabels(pod: Resource, nodes: Map<string, Record<string, string>>): Record<string, string> {
  const out = { ...pod.labels };
  const nodeName = str(pod.spec.nodeName);
  if (!nodeName) return out;
  out['kubernetes.io/hostname'] = nodeName;
  const node = nodes.get(nodeName) ?? {};
  for (const k of ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone']) {
    if (node[k]) out[k] = node[k];
  }
  return out;
}

export const subsetSelectPodAnalyzer: Analyzer = {
  name: 'destinationrule.SubsetSelectPodAnalyzer',
  description: 'Checks if pods are selected by subsets in destination rules.',
  analyze(ctx: AnalysisContext) {
    const entries = hostEntries(ctx);
    const nodes = new Map(kubeList(ctx, 'Node').map((n) => [n.name, n.labels]));
    const pods = workloadPods(ctx).map((p) => podLabels(p, nodes));
    for (const dr of ctx.list('networking.istio.io/DestinationRule')) {
      const se = destinationHost(dr, entries, ctx.domainSuffix);
      if (!se) {
        ctx.report('UnknownDestinationRuleHost', dr, [str(dr.spec.host)], 'spec.host');
        continue;
      }
      arr(dr.spec.subsets).forEach((s, i) => {
        const selector = { ...se.selector, ...labelMap(obj(s).labels) };
        if (!pods.some((l) => selects(selector, l))) ctx.report('DestinationRuleSubsetNotSelectPods', dr, [str(obj(s).name)], `spec.subsets[${i}]`);
      });
    }
  },
};
