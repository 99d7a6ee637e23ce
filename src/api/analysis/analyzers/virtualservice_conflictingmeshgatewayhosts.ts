/**
 * virtualservice.ConflictingMeshGatewayHostsAnalyzer: two VirtualServices bound to the mesh
 * gateway that claim the same host for the same namespaces (exportTo) leave the sidecar's
 * choice undefined (IST0109). The message names the host as `<scope>/<host>`.
 */
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';
import { exportScopes, fqdn, hostsOverlap } from './hosts.ts';

interface Claim {
  vs: Resource;
  scope: string;
  host: string;
}

function boundToMesh(vs: Resource): boolean {
  const gws = vs.spec.gateways;
  return !Array.isArray(gws) || gws.length === 0 || gws.includes('mesh');
}

/** The more specific of two overlapping hosts (the one without, or with the longer, wildcard suffix). */
function narrower(a: string, b: string): string {
  if (a === b) return a;
  if (a === '*') return b;
  if (b === '*') return a;
  if (a.startsWith('*') && !b.startsWith('*')) return b;
  if (b.startsWith('*') && !a.startsWith('*')) return a;
  return a.length >= b.length ? a : b;
}

export const conflictingMeshGatewayHostsAnalyzer: Analyzer = {
  name: 'virtualservice.ConflictingMeshGatewayHostsAnalyzer',
  description: 'Checks if multiple virtual services associated with the mesh gateway have conflicting hosts',
  analyze(ctx: AnalysisContext) {
    const claims: Claim[] = [];
    for (const vs of ctx.list('networking.istio.io/VirtualService')) {
      if (!boundToMesh(vs) || !Array.isArray(vs.spec.hosts)) continue;
      const scopes = exportScopes(vs.spec.exportTo, vs.namespace);
      for (const h of vs.spec.hosts) {
        if (typeof h !== 'string') continue;
        for (const scope of scopes) claims.push({ vs, scope, host: fqdn(h, vs.namespace, ctx.domainSuffix) });
      }
    }
    const groups = new Map<string, Set<Resource>>();
    for (let i = 0; i < claims.length; i++) {
      for (let j = i + 1; j < claims.length; j++) {
        const a = claims[i];
        const b = claims[j];
        if (a.vs === b.vs) continue;
        if (a.scope !== '*' && b.scope !== '*' && a.scope !== b.scope) continue;
        if (!hostsOverlap(a.host, b.host)) continue;
        const key = `${a.scope === '*' ? b.scope : a.scope}/${narrower(a.host, b.host)}`;
        let g = groups.get(key);
        if (!g) groups.set(key, (g = new Set()));
        g.add(a.vs).add(b.vs);
      }
    }
    for (const [key, set] of groups) {
      const names = [...set].map((r) => `${r.namespace}/${r.name}`).sort().join(',');
      for (const vs of set) ctx.report('ConflictingMeshGatewayVirtualServiceHosts', vs, [names, key], 'metadata.name');
    }
  },
};
