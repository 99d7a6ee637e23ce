/**
 * virtualservice.DestinationHostAnalyzer: every route and mirror destination must be a
 * Kubernetes Service or a ServiceEntry host visible from the VirtualService's namespace
 * (IST0101); a destination on a multi-port Service must name its port (IST0112), and a port it
 * names must exist. Needs the Services, so istioctl runs it only with Kubernetes inputs.
 */
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { destinations } from './virtualservice_destinationrules.ts';
import { fqdn, hostMatches, visibleIn } from './hosts.ts';

const EXPORT_TO = 'networking.istio.io/exportTo';

interface Target {
  ports: number[];
  /** Kubernetes Services have known ports; ServiceEntries are not port-checked here. */
  kube: boolean;
}

function serviceExportTo(svc: Resource): string[] | undefined {
  const a = svc.annotations[EXPORT_TO];
  return a ? a.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

function lookup(ctx: AnalysisContext, host: string, from: string): Target | undefined {
  for (const svc of ctx.list('Service')) {
    if (svc.group !== '') continue;
    if (`${svc.name}.${svc.namespace}.svc.${ctx.domainSuffix}` !== host) continue;
    if (!visibleIn(serviceExportTo(svc), svc.namespace, from)) continue;
    const ports = (Array.isArray(svc.spec.ports) ? svc.spec.ports : []).map((p: any) => Number(p?.port)).filter((n: number) => Number.isFinite(n));
    return { ports, kube: true };
  }
  for (const se of ctx.list('networking.istio.io/ServiceEntry')) {
    if (!visibleIn(se.spec.exportTo, se.namespace, from)) continue;
    const hosts: unknown[] = Array.isArray(se.spec.hosts) ? se.spec.hosts : [];
    if (hosts.some((h) => typeof h === 'string' && hostMatches(host, fqdn(h, se.namespace, ctx.domainSuffix)))) return { ports: [], kube: false };
  }
  return undefined;
}

export const virtualServiceDestinationHostAnalyzer: Analyzer = {
  name: 'virtualservice.DestinationHostAnalyzer',
  description: 'Checks the destination hosts associated with each virtual service',
  analyze(ctx: AnalysisContext) {
    for (const vs of ctx.list('networking.istio.io/VirtualService')) {
      for (const d of destinations(vs)) {
        const host = fqdn(d.host, vs.namespace, ctx.domainSuffix);
        const t = lookup(ctx, host, vs.namespace);
        if (!t) {
          ctx.report('ReferencedResourceNotFound', vs, [d.mirror ? 'mirror host' : 'host', d.host], d.path);
          continue;
        }
        if (!t.kube) continue;
        const port = Number(d.port);
        if (d.port === undefined) {
          if (t.ports.length > 1) ctx.report('VirtualServiceDestinationPortSelectorRequired', vs, [d.host, t.ports], d.path);
        } else if (!t.ports.includes(port)) {
          ctx.report('ReferencedResourceNotFound', vs, ['host:port', `${d.host}:${port}`], d.path);
        }
      }
    }
  },
};
