/**
 * k8sgateway.CRDVersionAnalyzer (IST0176): a Gateway API CRD whose bundle version (the
 * gateway.networking.k8s.io/bundle-version annotation) is older than this Istio needs; Istio
 * ignores resources of that kind. The minimums are this Istio's (as istioctl reports them), for
 * the kinds it reads at an API version older bundles do not serve. Pre-release suffixes are
 * ignored in the comparison (v1.6.0-rc1 satisfies 1.6.0).
 */
import type { Analyzer } from '../types.ts';

const BUNDLE_VERSION = 'gateway.networking.k8s.io/bundle-version';
const MINIMUM: Record<string, string> = {
  'backendtlspolicies.gateway.networking.k8s.io': '1.4.0',
  'grpcroutes.gateway.networking.k8s.io': '1.1.0',
  'tcproutes.gateway.networking.k8s.io': '1.6.0',
  'tlsroutes.gateway.networking.k8s.io': '1.5.0',
};

export const crdVersionAnalyzer: Analyzer = {
  name: 'k8sgateway.CRDVersionAnalyzer',
  description: 'Checks Gateway API CRDs are at the minimum version required by this Istio version',
  analyze(ctx) {
    for (const crd of ctx.list('apiextensions.k8s.io/CustomResourceDefinition')) {
      const min = MINIMUM[crd.name];
      const raw = crd.annotations[BUNDLE_VERSION];
      if (!min || !raw) continue;
      const v = parseVersion(raw);
      if (v && compare(v.numbers, parseVersion(min)!.numbers) < 0) ctx.report('GatewayAPICRDVersionBelowMinimum', crd, [crd.name, v.text, min]);
    }
  },
};

/** `v1.5` → 1.5.0 (printed as istioctl prints it, without the v, pre-release kept). */
function parseVersion(s: string): { numbers: number[]; text: string } | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?(-[0-9A-Za-z.-]+)?$/.exec(s.trim());
  if (!m) return undefined;
  const numbers = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  return { numbers, text: `${numbers.join('.')}${m[4] ?? ''}` };
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
