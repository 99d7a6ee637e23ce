/**
 * Istio resolves every short name in a VirtualService against the VirtualService's own namespace
 * before anything else reads it (model.resolveVirtualServiceShortnames). Doing the same once here
 * means route building, delegation and host matching only ever see FQDNs and `ns/name` gateways.
 */
import type { Config } from '../../api/types.ts';
import { resolveHost } from '../host.ts';
import type { Destination, HTTPRoute, VirtualServiceSpec } from '../../api/networking.ts';

/** The mesh-internal "gateway" that stands for every sidecar. */
export const MESH_GATEWAY = 'mesh';

/** `bookinfo-gateway` in namespace default → `default/bookinfo-gateway`; `mesh` stays itself. */
export function resolveGatewayName(gw: string, namespace: string): string {
  if (gw === MESH_GATEWAY) return gw;
  if (gw.startsWith('./')) return `${namespace}/${gw.slice(2)}`;
  if (gw.includes('/')) return gw;
  // Istio still accepts the old `name.namespace.svc.<domain>` form: keep name and namespace.
  const parts = gw.split('.');
  if (parts.length >= 2) return `${parts[1]}/${parts[0]}`;
  return `${namespace}/${gw}`;
}

function resolveDestination(d: Destination | undefined, ns: string): Destination | undefined {
  if (!d || typeof d.host !== 'string') return d;
  return { ...d, host: resolveHost(d.host, ns) };
}

/** A copy of one HTTPRoute with every destination host made fully qualified. */
export function resolveHttpRoute(r: HTTPRoute, ns: string): HTTPRoute {
  const out: HTTPRoute = { ...r };
  if (r.route) out.route = r.route.map((d) => ({ ...d, destination: resolveDestination(d.destination, ns)! }));
  if (r.mirror) out.mirror = resolveDestination(r.mirror, ns);
  if (r.mirrors) out.mirrors = r.mirrors.map((m) => ({ ...m, destination: resolveDestination(m.destination, ns)! }));
  if (r.match) {
    out.match = r.match.map((m) => (m.gateways ? { ...m, gateways: m.gateways.map((g) => resolveGatewayName(g, ns)) } : m));
  }
  if (r.delegate) out.delegate = { name: r.delegate.name, namespace: r.delegate.namespace || ns };
  return out;
}

/**
 * A copy of the VirtualService with hosts, destinations and gateway names resolved. The input is
 * never mutated (it belongs to the PushContext, shared by every proxy).
 */
export function resolveVirtualService(vs: Config<VirtualServiceSpec>): Config<VirtualServiceSpec> {
  const ns = vs.metadata.namespace;
  const spec: VirtualServiceSpec = vs.spec ?? {};
  const l4 = <T extends { match?: Array<{ gateways?: string[] }>; route?: Array<{ destination: Destination }> }>(r: T): T => ({
    ...r,
    route: r.route?.map((d) => ({ ...d, destination: resolveDestination(d.destination, ns)! })),
    match: r.match?.map((m) => (m.gateways ? { ...m, gateways: m.gateways.map((g) => resolveGatewayName(g, ns)) } : m)),
  });
  const out: VirtualServiceSpec = {
    ...spec,
    hosts: (spec.hosts ?? []).map((h) => resolveHost(h, ns)),
    gateways: spec.gateways?.map((g) => resolveGatewayName(g, ns)),
    http: spec.http?.map((r) => resolveHttpRoute(r, ns)),
    tcp: spec.tcp?.map(l4),
    tls: spec.tls?.map(l4),
  };
  return { ...vs, spec: out };
}

/** The gateways a VirtualService binds to; none written means the mesh (every sidecar). */
export function boundGateways(vs: Config<VirtualServiceSpec>): string[] {
  const g = vs.spec?.gateways;
  return g && g.length > 0 ? g : [MESH_GATEWAY];
}
