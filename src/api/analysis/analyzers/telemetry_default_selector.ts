/**
 * telemetry.DefaultSelectorAnalyzer (IST0160): two Telemetries in one namespace without a
 * workload selector leave it undefined which one applies namespace-wide. istioctl looks at
 * `selector` only: a Telemetry bound by targetRefs counts as having none.
 */
import type { Analyzer, Resource } from '../types.ts';
import { obj, sortStrings } from './wl_util.ts';

function namespaceWide(t: Resource): boolean {
  return Object.keys(obj(obj(t.spec.selector).matchLabels)).length === 0;
}

export const telemetryDefaultSelectorAnalyzer: Analyzer = {
  name: 'telemetry.DefaultSelectorAnalyzer',
  description: "Validates that there aren't multiple telemetry resources that have no selector",
  analyze(ctx) {
    const byNs = new Map<string, Resource[]>();
    for (const t of ctx.list('telemetry.istio.io/Telemetry')) {
      if (!namespaceWide(t)) continue;
      const l = byNs.get(t.namespace) ?? [];
      l.push(t);
      byNs.set(t.namespace, l);
    }
    for (const [ns, ts] of byNs) {
      if (ts.length < 2) continue;
      const names = sortStrings(ts.map((t) => t.name));
      for (const t of ts) ctx.report('MultipleTelemetriesWithoutWorkloadSelectors', t, [names, ns]);
    }
  },
};
