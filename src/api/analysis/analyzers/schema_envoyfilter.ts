/**
 * Istio's validation of EnvoyFilter (a kind tsmesh does not serve, so its validator has no rules
 * for it): every patch needs a patch, and a patch's match must be of its applyTo's class.
 */
import type { AnalysisContext, Resource } from '../types.ts';

const LISTENER_CLASS = new Set(['LISTENER', 'FILTER_CHAIN', 'NETWORK_FILTER', 'HTTP_FILTER', 'LISTENER_FILTER']);
const ROUTE_CLASS = new Set(['ROUTE_CONFIGURATION', 'VIRTUAL_HOST', 'HTTP_ROUTE']);
const CLUSTER_CLASS = new Set(['CLUSTER']);

export function envoyFilterProblems(r: Resource): string[] {
  const out: string[] = [];
  const patches = Array.isArray(r.spec.configPatches) ? r.spec.configPatches : [];
  for (const cp of patches) {
    if (cp === null || typeof cp !== 'object') {
      out.push('Envoy filter: null config patch');
      continue;
    }
    if (!cp.applyTo || cp.applyTo === 'INVALID') out.push('Envoy filter: missing applyTo');
    if (!cp.patch) {
      out.push('Envoy filter: missing patch');
      continue;
    }
    const m = cp.match && typeof cp.match === 'object' ? cp.match : undefined;
    if (m) {
      if (LISTENER_CLASS.has(cp.applyTo) && (m.routeConfiguration || m.cluster)) out.push('Envoy filter: applyTo for listener class objects cannot have non listener match');
      if (ROUTE_CLASS.has(cp.applyTo) && (m.listener || m.cluster)) out.push('Envoy filter: applyTo for http route class objects cannot have non route configuration match');
      if (CLUSTER_CLASS.has(cp.applyTo) && (m.listener || m.routeConfiguration)) out.push('Envoy filter: applyTo for cluster class objects cannot have non cluster match');
    }
  }
  return out;
}

export function analyzeEnvoyFilterSchema(ctx: AnalysisContext): void {
  for (const r of ctx.list('EnvoyFilter')) {
    for (const p of envoyFilterProblems(r)) ctx.report('SchemaValidationError', r, [p]);
    ctx.report('SchemaWarning', r, ['EnvoyFilter exposes internal implementation details that may change at any time. Prefer other APIs if possible, and exercise extreme caution, especially around upgrades.']);
  }
}
