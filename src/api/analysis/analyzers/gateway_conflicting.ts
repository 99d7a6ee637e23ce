/**
 * gateway.ConflictingGatewayAnalyzer: two Gateways on the same gateway workload (equal selectors,
 * or a Pod both select) with servers on the same port, for overlapping hosts, of different
 * protocols cannot both be served (IST0145); servers of one protocol merge. Needs the Pods, so istioctl runs it only with Kubernetes inputs.
 */
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { hostsOverlap } from './hosts.ts';
import { selectorString, selects } from './kube_util.ts';

function selectorOf(gw: Resource): Record<string, string> {
  const s = gw.spec.selector;
  return s && typeof s === 'object' ? (s as Record<string, string>) : {};
}


function sameWorkload(ctx: AnalysisContext, a: Resource, b: Resource): boolean {
  const sa = selectorOf(a);
  const sb = selectorOf(b);
  if (selectorString(sa) === selectorString(sb)) return true;
  return ctx.list('Pod').some((p) => p.group === '' && selects(sa, p.labels) && selects(sb, p.labels));
}

function servers(gw: Resource): { port: number; protocol: string; hosts: string[] }[] {
  return (Array.isArray(gw.spec.servers) ? gw.spec.servers : [])
    .filter((s: any) => s?.port && Number.isFinite(Number(s.port.number)))
    .map((s: any) => ({ port: Number(s.port.number), protocol: String(s.port.protocol ?? '').toUpperCase(), hosts: (Array.isArray(s.hosts) ? s.hosts : []).filter((h: unknown) => typeof h === 'string').map((h: string) => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h)) }));
}

export const conflictingGatewayAnalyzer: Analyzer = {
  name: 'gateway.ConflictingGatewayAnalyzer',
  description: 'Checks a gateway\'s selector, port number and hosts',
  analyze(ctx: AnalysisContext) {
    const gws = ctx.list('networking.istio.io/Gateway');
    for (const a of gws) {
      for (const b of gws) {
        if (a === b || !sameWorkload(ctx, a, b)) continue;
        for (const sa of servers(a)) {
          for (const sb of servers(b)) {
            if (sa.port !== sb.port || sa.protocol === sb.protocol) continue;
            const hosts = sa.hosts.filter((h) => sb.hosts.some((x) => hostsOverlap(h, x)));
            if (hosts.length === 0) continue;
            ctx.report('ConflictingGateways', a, [`${b.namespace ? `${b.namespace}/` : ''}${b.name}`, selectorString(selectorOf(a)), String(sa.port), hosts], 'metadata.name');
          }
        }
      }
    }
  },
};
