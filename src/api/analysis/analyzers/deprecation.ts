/**
 * deprecation.DeprecationAnalyzer: fields Istio still reads but has replaced, or ignores (IST0002).
 */
import type { AnalysisContext, Analyzer } from '../types.ts';

export const deprecationAnalyzer: Analyzer = {
  name: 'deprecation.DeprecationAnalyzer',
  description: 'Checks for deprecated Istio types and fields',
  analyze(ctx: AnalysisContext) {
    for (const vs of ctx.list('networking.istio.io/VirtualService')) {
      (Array.isArray(vs.spec.http) ? vs.spec.http : []).forEach((r: any) => {
        if (r?.fault?.delay && r.fault.delay.percent !== undefined) ctx.report('Deprecated', vs, ['HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage']);
      });
    }
    for (const sc of ctx.list('networking.istio.io/Sidecar')) {
      // egressProxy only applies to a Sidecar that selects workloads.
      if (sc.spec.outboundTrafficPolicy?.egressProxy && !sc.spec.workloadSelector) ctx.report('Deprecated', sc, ['OutboundTrafficPolicy.EgressProxy ignored']);
    }
  },
};
