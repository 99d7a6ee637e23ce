/**
 * k8sgateway.CRDVersionAnalyzer (IST0176): a Gateway API CRD whose bundle version (the
 * gateway.networking.k8s.io/bundle-version annotation) is older than this Istio needs; Istio
 * ignores resources of that kind. The minimums are Istio's for the kinds it reads at a newer
 * API version than older bundles serve.
 */
import type { Analyzer } from '../types.ts';

const BUNDLE_VERSION = 'gateway.networking.k8s.io/bundle-version';
const MINIMUM: Record<string, string> = {
  'tlsroutes.gateway.networking.k8s.io': '1.5.0',
};

export const crdVersionAnalyzer: Analyzer = {
  name: 'k8sgateway.CRDVersionAnalyzer',
  analyze(ctx) {
    for (const crd of ctx.list('apiextensions.k8s.io/CustomResourceDefinition')) {
      const min = MINIMUM[crd.name];
      const raw = crd.annotations[BUNDLE_VERSION];
      if (!min || !raw) continue;
      const installed = raw.replace(/^v/, '');
      const v = parseVersion(installed);
      if (v && compare(v, parseVersion(min)!) < 0) ctx.report('GatewayAPICRDVersionBelowMinimum', crd, [crd.name, installed, min]);
    }
  },
};

/** major.minor.patch, with a pre-release (1.5.0-rc1) counting as below its release. */
function parseVersion(s: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(-.+)?$/.exec(s);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0), m[4] ? 0 : 1];
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
