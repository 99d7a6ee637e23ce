/**
 * Which AuthorizationPolicies apply to a workload, grouped by action (Istio's
 * AuthorizationPolicies.ListAuthorizationPolicies): a policy in the root namespace applies across
 * the mesh, one in the workload's namespace to that namespace; a selector narrows either to the
 * workloads whose labels it matches. Policies that name targetRefs instead of a selector attach
 * to Gateway API gateways and waypoints, never to a sidecar or a deployed gateway by labels.
 */
import type { Config } from '../../api/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { pushIndex } from '../push_context.ts';
import { labelsMatch } from '../util.ts';

export interface ApplicablePolicies {
  custom: Config[];
  deny: Config[];
  allow: Config[];
  audit: Config[];
}

const DRY_RUN = 'istio.io/dry-run';

/** The istio.io/dry-run annotation: the policy is evaluated and reported, never enforced. */
export function isDryRun(c: Config): boolean {
  return String(c.metadata.annotations?.[DRY_RUN] ?? '').toLowerCase() === 'true';
}

export function applicablePolicies(push: PushContext, proxy: Proxy): ApplicablePolicies {
  const out: ApplicablePolicies = { custom: [], deny: [], allow: [], audit: [] };
  const all = pushIndex(push).byKind.get('AuthorizationPolicy') ?? [];
  for (const c of all) {
    const ns = c.metadata.namespace;
    if (ns !== proxy.namespace && ns !== push.mesh.rootNamespace) continue;
    const spec = c.spec ?? {};
    if (Array.isArray(spec.targetRefs) && spec.targetRefs.length > 0) continue;
    if (spec.targetRef) continue;
    if (!labelsMatch(spec.selector?.matchLabels, proxy.labels)) continue;
    const action = String(spec.action ?? 'ALLOW');
    if (action === 'DENY') out.deny.push(c);
    else if (action === 'AUDIT') out.audit.push(c);
    else if (action === 'CUSTOM') out.custom.push(c);
    else out.allow.push(c);
  }
  return out;
}
