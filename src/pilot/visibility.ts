/**
 * What one proxy may see: services and VirtualServices filtered by `exportTo` and by the Sidecar
 * resource that scopes the proxy (Istio's SidecarScope). Everything a proxy gets passes here.
 */
import type { Config } from '../api/types.ts';
import type { Service } from '../registry/model.ts';
import type { Proxy, PushContext } from './types.ts';
import { hostMatches, resolveHost } from './host.ts';
import { pushIndex } from './push_context.ts';
import { labelsMatch } from './util.ts';

/** One `namespace/host` entry of a Sidecar egress listener, split. */
export interface EgressHost {
  namespace: string; // "*", ".", "~" or a name
  host: string; // "*", "*.example.com" or an FQDN
}

/** One Sidecar egress listener: its hosts, for one port or (port undefined) every other port. */
export interface EgressListenerScope {
  port?: number;
  hosts: EgressHost[];
}

/**
 * The scope a Sidecar resource gives one proxy; `egress` undefined means "everything visible".
 * `egress` is every listener's hosts together (what clusters and VirtualServices may name);
 * `listeners` keeps them per port, for what a given outbound port serves.
 */
export interface SidecarScope {
  sidecar?: Config;
  egress?: EgressHost[];
  listeners?: EgressListenerScope[];
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

/**
 * Picks the Sidecar for a proxy as Istio does: one in the proxy's namespace whose
 * workloadSelector matches its labels, else that namespace's selector-less one, else the root
 * namespace's selector-less one.
 */
export function sidecarFor(push: PushContext, proxy: Proxy): Config | undefined {
  const idx = pushIndex(push);
  const local = idx.sidecarsByNamespace.get(proxy.namespace) ?? [];
  const selected = local.find((s) => s.spec?.workloadSelector?.labels && labelsMatch(s.spec.workloadSelector.labels, proxy.labels));
  if (selected) return selected;
  const nsDefault = local.find((s) => !s.spec?.workloadSelector?.labels);
  if (nsDefault) return nsDefault;
  const root = idx.sidecarsByNamespace.get(push.mesh.rootNamespace) ?? [];
  return root.find((s) => !s.spec?.workloadSelector?.labels);
}

/** The proxy's SidecarScope (egress hosts and outbound traffic policy). */
export function sidecarScopeFor(push: PushContext, proxy: Proxy): SidecarScope {
  const sidecar = sidecarFor(push, proxy);
  const mode = sidecar?.spec?.outboundTrafficPolicy?.mode ?? push.mesh.outboundTrafficPolicy?.mode ?? 'ALLOW_ANY';
  const listeners: Array<{ hosts?: string[]; port?: { number?: number } }> | undefined = sidecar?.spec?.egress;
  if (!sidecar || !listeners || listeners.length === 0) return { sidecar, outboundTrafficPolicy: mode };
  const egress = listeners.flatMap((l) => l.hosts ?? []).map(parseEgressHost);
  const perPort = listeners.map((l) => ({ port: l.port?.number || undefined, hosts: (l.hosts ?? []).map(parseEgressHost) }));
  return { sidecar, egress, listeners: perPort, outboundTrafficPolicy: mode };
}

/** Splits `ns/host`; a bare host means any namespace. */
export function parseEgressHost(s: string): EgressHost {
  const slash = s.indexOf('/');
  if (slash < 0) return { namespace: '*', host: s };
  return { namespace: s.slice(0, slash), host: s.slice(slash + 1) };
}

/**
 * True if the scope's egress hosts admit `host` defined in namespace `ns`. With `port`, only the
 * egress listener for that port counts, else the port-less one (Istio's per-port egress
 * listeners); a port neither covers admits nothing.
 */
export function egressAllows(scope: SidecarScope, proxyNamespace: string, ns: string, host: string, port?: number): boolean {
  if (!scope.egress) return true;
  let hosts = scope.egress;
  if (port !== undefined && scope.listeners) {
    const l = scope.listeners.find((x) => x.port === port) ?? scope.listeners.find((x) => x.port === undefined);
    if (!l) return false;
    hosts = l.hosts;
  }
  const sidecarNs = scope.sidecar?.metadata.namespace ?? proxyNamespace;
  return hosts.some((e) => {
    if (e.namespace === '~') return false;
    if (e.namespace === '.' ? ns !== sidecarNs : e.namespace !== '*' && e.namespace !== ns) return false;
    return hostMatches(e.host, host);
  });
}

/** exportTo rule shared by services and configs: '*' all, '.' own namespace, '~' none, else names. */
export function exportedTo(exportTo: string[] | undefined, ownNamespace: string, viewerNamespace: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || (e === '.' ? viewerNamespace === ownNamespace : e === viewerNamespace));
}

/**
 * Services the proxy may reach, in the push's order (sorted by hostname); with `port`, those the
 * Sidecar's egress listener for that outbound port admits.
 */
export function servicesForProxy(push: PushContext, proxy: Proxy, port?: number): Service[] {
  const scope = sidecarScopeFor(push, proxy);
  return push.services.filter(
    (s) => exportedTo(s.exportTo, s.namespace, proxy.namespace) && egressAllows(scope, proxy.namespace, s.namespace, s.hostname, port),
  );
}
