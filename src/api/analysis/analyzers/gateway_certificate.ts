/**
 * gateway.CertificateAnalyzer: two Gateways on the same gateway workload using the same
 * certificate let HTTP/2 clients reuse a connection across them and get 404s (IST0138). A
 * Gateway reports each other Gateway whose selector includes its own, with the same credential.
 */
import type { AnalysisContext, Analyzer, Resource } from '../types.ts';

function credentials(gw: Resource): Set<string> {
  const out = new Set<string>();
  for (const s of Array.isArray(gw.spec.servers) ? gw.spec.servers : []) {
    const tls = s?.tls;
    if (!tls || typeof tls !== 'object') continue;
    if (typeof tls.credentialName === 'string' && tls.credentialName) out.add(`cred:${tls.credentialName}`);
    else if (typeof tls.serverCertificate === 'string' && tls.serverCertificate) out.add(`file:${tls.serverCertificate}|${tls.privateKey ?? ''}`);
  }
  return out;
}

/** Whether every label of `a`'s selector is in `b`'s (so the workloads `b` picks, `a` picks too). */
function selectorWithin(a: Resource, b: Resource): boolean {
  const sa = a.spec.selector && typeof a.spec.selector === 'object' ? a.spec.selector : {};
  const sb = b.spec.selector && typeof b.spec.selector === 'object' ? b.spec.selector : {};
  return Object.entries(sa).every(([k, v]) => sb[k] === v);
}

export const gatewayCertificateAnalyzer: Analyzer = {
  name: 'gateway.CertificateAnalyzer',
  description: 'Checks a gateway certificate',
  analyze(ctx: AnalysisContext) {
    const gws = ctx.list('networking.istio.io/Gateway');
    for (const a of gws) {
      const ca = credentials(a);
      if (ca.size === 0) continue;
      const dups = gws.filter((b) => b !== a && selectorWithin(a, b) && [...credentials(b)].some((c) => ca.has(c)));
      if (dups.length === 0) continue;
      ctx.report('GatewayDuplicateCertificate', a, [[a, ...dups].map((g) => (g.namespace ? `${g.namespace}/${g.name}` : g.name))], 'metadata.name');
    }
  },
};
