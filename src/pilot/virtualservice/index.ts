/**
 * Which VirtualServices apply to a proxy, and which of those apply to one host (Istio's
 * SidecarScope / gateway VirtualService selection). Used by RDS here and by the listener builder
 * for `tcp` and `tls` routes.
 *
 * - Sidecars take VirtualServices bound to the mesh (no `gateways`, or one of them is "mesh");
 *   routers take those naming a Gateway that selects them (`ns/name`, or a short name resolved in
 *   the VirtualService's namespace).
 * - `exportTo` ('.', '*', namespace names) must admit the proxy's namespace; for sidecars the
 *   Sidecar resource's egress hosts must admit one of the hosts.
 * - Short names are resolved against the VirtualService's namespace (see resolve.ts); delegate
 *   VirtualServices (no hosts) never apply by themselves, their routes are merged into the root.
 * - Several VirtualServices for the same host: their rules are merged in precedence order (older
 *   creationTimestamp first, then namespace/name, the push's order), so the older one's rules are
 *   tried first. Istio documents merging for gateways; for sidecars it keeps only the oldest, which
 *   is what merging gives whenever the oldest ends in a catch-all route.
 */
import type { Config } from '../../api/types.ts';
import { hostMatches } from '../host.ts';
import { pushIndex } from '../push_context.ts';
import type { Proxy, PushContext } from '../types.ts';
import { labelsMatch } from '../util.ts';
import { egressAllows, exportedTo, sidecarScopeFor } from '../visibility.ts';
import { mergeDelegates } from './delegate.ts';
import { boundGateways, MESH_GATEWAY, resolveVirtualService } from './resolve.ts';
import type { VirtualServiceSpec } from '../../api/networking.ts';

export { MESH_GATEWAY, resolveGatewayName, resolveVirtualService } from './resolve.ts';
export { mergeDelegates } from './delegate.ts';

export type VirtualService = Config<VirtualServiceSpec>;

const resolvedCache = new WeakMap<PushContext, VirtualService[]>();

/**
 * Every VirtualService of the push, short names resolved and delegates merged into their roots,
 * in precedence order. Delegates themselves (no hosts) are left out. Computed once per push.
 */
export function resolvedVirtualServices(push: PushContext): VirtualService[] {
  const cached = resolvedCache.get(push);
  if (cached) return cached;
  const all = (pushIndex(push).byKind.get('VirtualService') ?? []).map((c) => resolveVirtualService(c as VirtualService));
  const byKey = new Map(all.map((vs) => [`${vs.metadata.namespace}/${vs.metadata.name}`, vs]));
  const lookup = (name: string, ns: string) => byKey.get(`${ns}/${name}`);
  const out: VirtualService[] = [];
  for (const vs of all) {
    if ((vs.spec.hosts ?? []).length === 0) continue;
    const http = vs.spec.http?.some((r) => r.delegate) ? mergeDelegates(vs, lookup) : vs.spec.http;
    out.push(http === vs.spec.http ? vs : { ...vs, spec: { ...vs.spec, http } });
  }
  resolvedCache.set(push, out);
  return out;
}

/**
 * Gateway names (`ns/name`) a proxy answers to: "mesh" for sidecars; for routers, every Gateway
 * whose selector matches the proxy's labels (Istio does not scope gateways by namespace unless
 * asked to).
 */
export function gatewayNamesForProxy(push: PushContext, proxy: Proxy): Set<string> {
  if (proxy.type === 'sidecar') return new Set([MESH_GATEWAY]);
  const out = new Set<string>();
  for (const gw of pushIndex(push).byKind.get('Gateway') ?? []) {
    const selector: Record<string, string> | undefined = gw.spec?.selector;
    if (selector && Object.keys(selector).length > 0 && !labelsMatch(selector, proxy.labels)) continue;
    out.add(`${gw.metadata.namespace}/${gw.metadata.name}`);
  }
  return out;
}

/**
 * VirtualServices that apply to `proxy`, in precedence order. `gateways` narrows a router to some
 * of its Gateways (e.g. those with a server on one port); sidecars always use "mesh".
 */
export function virtualServicesForProxy(push: PushContext, proxy: Proxy, gateways?: Set<string>): VirtualService[] {
  const names = gateways ?? gatewayNamesForProxy(push, proxy);
  const scope = proxy.type === 'sidecar' ? sidecarScopeFor(push, proxy) : undefined;
  return resolvedVirtualServices(push).filter((vs) => {
    if (!boundGateways(vs).some((g) => names.has(g))) return false;
    if (!exportedTo(vs.spec.exportTo, vs.metadata.namespace, proxy.namespace)) {
      // A router reads VirtualServices bound to its Gateway wherever they live (Istio checks the
      // VirtualService's exportTo against the Gateway's namespace, not the router's).
      if (proxy.type === 'sidecar') return false;
      const gwNamespaces = boundGateways(vs).filter((g) => names.has(g)).map((g) => g.split('/')[0]!);
      if (!gwNamespaces.some((ns) => exportedTo(vs.spec.exportTo, vs.metadata.namespace, ns))) return false;
    }
    if (!scope) return true;
    return (vs.spec.hosts ?? []).some((h) => egressAllows(scope, proxy.namespace, vs.metadata.namespace, h));
  });
}

/**
 * The VirtualServices that route `hostname`: those naming it exactly; when none does, those whose
 * most specific wildcard host matches it (Istio picks the most specific wildcard VirtualService).
 * Order is kept, so the result's rules merge oldest first.
 */
export function virtualServicesForHost(vss: VirtualService[], hostname: string): VirtualService[] {
  const exact = vss.filter((vs) => (vs.spec.hosts ?? []).includes(hostname));
  if (exact.length > 0) return exact;
  let best = -1;
  const specificity = (vs: VirtualService) => {
    let s = -1;
    for (const h of vs.spec.hosts ?? []) if (hostMatches(h, hostname) && h.length > s) s = h.length;
    return s;
  };
  const scored = vss.map((vs) => ({ vs, s: specificity(vs) }));
  for (const { s } of scored) if (s > best) best = s;
  if (best < 0) return [];
  return scored.filter((x) => x.s === best).map((x) => x.vs);
}

/** The VirtualService hosts that name no known service (they get vhosts of their own). */
export function hostsWithoutService(vss: VirtualService[], known: (host: string) => boolean): string[] {
  const out = new Set<string>();
  for (const vs of vss) for (const h of vs.spec.hosts ?? []) if (!known(h)) out.add(h);
  return [...out].sort();
}
