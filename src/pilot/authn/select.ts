/**
 * Which RequestAuthentications apply to a workload (Istio's AuthenticationPolicies
 * .GetJwtPoliciesForWorkload): one in the root namespace applies across the mesh, one in the
 * workload's namespace to that namespace; a selector narrows either to the workloads whose labels
 * it matches. Policies naming targetRef(s) attach to Gateway API gateways and waypoints, never to
 * a sidecar or a deployed gateway by labels, so they are left out here (as authz/select.ts does).
 */
import type { Config } from '../../api/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { pushIndex } from '../push_context.ts';
import { labelsMatch } from '../util.ts';

export function applicableRequestAuthentications(push: PushContext, proxy: Proxy): Config[] {
  const all = pushIndex(push).byKind.get('RequestAuthentication') ?? [];
  return all.filter((c) => {
    const ns = c.metadata.namespace;
    if (ns !== proxy.namespace && ns !== push.mesh.rootNamespace) return false;
    const spec = c.spec ?? {};
    if (Array.isArray(spec.targetRefs) && spec.targetRefs.length > 0) return false;
    if (spec.targetRef) return false;
    return labelsMatch(spec.selector?.matchLabels, proxy.labels);
  });
}
