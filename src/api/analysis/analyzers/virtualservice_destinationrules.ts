/**
 * virtualservice.DestinationRuleAnalyzer: a route or mirror naming a subset needs a
 * DestinationRule for that host, visible from the VirtualService, that defines the subset.
 */
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { fqdn, hostMatches, visibleIn } from './hosts.ts';

interface Dest {
  host: string;
  subset?: string;
  /** destination.port.number, when set. */
  port?: number;
  path: string;
  mirror: boolean;
}

export function destinations(vs: Resource): Dest[] {
  const out: Dest[] = [];
  const add = (d: any, path: string, mirror = false) => {
    if (d && typeof d === 'object' && typeof d.host === 'string') out.push({ host: d.host, subset: typeof d.subset === 'string' && d.subset ? d.subset : undefined, ...(d.port?.number !== undefined ? { port: Number(d.port.number) } : {}), path: `${path}.host`, mirror });
  };
  const list = (v: unknown): any[] => (Array.isArray(v) ? v : []);
  list(vs.spec.http).forEach((r, i) => {
    list(r?.route).forEach((w, j) => add(w?.destination, `spec.http[${i}].route[${j}].destination`));
    if (r?.mirror) add(r.mirror, `spec.http[${i}].mirror`, true);
    list(r?.mirrors).forEach((m, j) => add(m?.destination, `spec.http[${i}].mirrors[${j}].destination`, true));
  });
  for (const kind of ['tcp', 'tls'] as const) {
    list(vs.spec[kind]).forEach((r, i) => list(r?.route).forEach((w, j) => add(w?.destination, `spec.${kind}[${i}].route[${j}].destination`)));
  }
  return out;
}

export const virtualServiceDestinationRuleAnalyzer: Analyzer = {
  name: 'virtualservice.DestinationRuleAnalyzer',
  description: 'Checks the destination rules associated with each virtual service',
  analyze(ctx: AnalysisContext) {
    const rules = ctx.list('networking.istio.io/DestinationRule');
    for (const vs of ctx.list('networking.istio.io/VirtualService')) {
      for (const d of destinations(vs)) {
        if (!d.subset) continue;
        const host = fqdn(d.host, vs.namespace, ctx.domainSuffix);
        const found = rules.some((dr) => {
          if (typeof dr.spec.host !== 'string') return false;
          if (dr.namespace !== vs.namespace && dr.namespace !== ctx.rootNamespace && !visibleIn(dr.spec.exportTo, dr.namespace, vs.namespace)) return false;
          if (!hostMatches(host, fqdn(dr.spec.host, dr.namespace, ctx.domainSuffix))) return false;
          return Array.isArray(dr.spec.subsets) && dr.spec.subsets.some((s: any) => s?.name === d.subset);
        });
        if (!found) ctx.report('ReferencedResourceNotFound', vs, [d.mirror ? 'mirror+subset in destinationrule' : 'host+subset in destinationrule', `${d.host}+${d.subset}`], d.path);
      }
    }
  },
};
