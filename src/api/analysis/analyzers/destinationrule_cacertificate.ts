/**
 * destinationrule.CaCertificateAnalyzer: TLS origination (SIMPLE or MUTUAL) without
 * caCertificates does not verify the server (IST0128 for the whole destination, IST0129 per port).
 * A credentialName on a DestinationRule bound to workloads by workloadSelector (a gateway's) may
 * carry the CA in its secret, and is not reported. (istioctl reports insecureSkipVerify too: the
 * warning is about the missing verification, whatever the reason.)
 */
import type { Analyzer } from '../types.ts';
import { arr, nsName, obj, str } from './wl_util.ts';

function unverified(tls: Record<string, any>, hasSelector: boolean): string | undefined {
  const mode = str(tls.mode);
  if (mode !== 'SIMPLE' && mode !== 'MUTUAL') return undefined;
  if (str(tls.caCertificates) !== '') return undefined;
  if (str(tls.credentialName) !== '' && hasSelector) return undefined;
  return mode;
}

export const caCertificateAnalyzer: Analyzer = {
  name: 'destinationrule.CaCertificateAnalyzer',
  description: 'Checks if caCertificates is set when TLS mode is SIMPLE/MUTUAL',
  analyze(ctx) {
    for (const dr of ctx.list('networking.istio.io/DestinationRule')) {
      const host = str(dr.spec.host);
      // Istio names the rule by its full name, namespace/name (just name when it has none).
      const name = dr.namespace ? nsName(dr) : dr.name;
      // Any workloadSelector counts, even one without labels (istioctl's rule).
      const hasSelector = typeof dr.spec.workloadSelector === 'object' && dr.spec.workloadSelector !== null;
      const tp = obj(dr.spec.trafficPolicy);
      const mode = unverified(obj(tp.tls), hasSelector);
      if (mode) ctx.report('NoServerCertificateVerificationDestinationLevel', dr, [name, dr.namespace, mode, host]);
      for (const pls of arr(tp.portLevelSettings)) {
        const m = unverified(obj(obj(pls).tls), hasSelector);
        if (!m) continue;
        // Istio prints the PortSelector message as Go's proto text: `number:443`.
        const port = `number:${str(obj(obj(pls).port).number)}`;
        ctx.report('NoServerCertificateVerificationPortLevel', dr, [name, dr.namespace, m, host, port]);
      }
    }
  },
};
