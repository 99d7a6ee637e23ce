/**
 * VirtualService `tcp:` and `tls:` routes on a gateway server (Istio's
 * buildGatewayNetworkFiltersFromTCPRoutes / FromTLSRoutes): which VirtualServices bind to the
 * server, which of their L4 matches apply, and the tcp_proxy each one becomes.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { tcpProxy } from '../listener/filters.ts';
import { withTcpTimeouts } from '../listener/tcp_timeouts.ts';
import { l4Target, type L4Target } from '../route/weighted.ts';
import type { Proxy, PushContext } from '../types.ts';
import { labelsMatch } from '../util.ts';
import type { L4MatchAttributes } from '../../api/networking.ts';
import { virtualServicesForProxy, type VirtualService } from '../virtualservice/index.ts';
import { intersectHosts, namespaceAdmits } from './hosts.ts';
import type { GatewayServer } from './servers.ts';

/** VirtualServices bound to the server's Gateway with a host the server exposes to their namespace. */
export function virtualServicesForServer(push: PushContext, proxy: Proxy, gs: GatewayServer): Array<{ vs: VirtualService; hosts: string[] }> {
  const out: Array<{ vs: VirtualService; hosts: string[] }> = [];
  for (const vs of virtualServicesForProxy(push, proxy, new Set([gs.gatewayName]))) {
    const hosts = new Set<string>();
    for (const sh of gs.hosts) {
      if (!namespaceAdmits(sh, vs.metadata.namespace)) continue;
      for (const vh of vs.spec.hosts ?? []) {
        const h = intersectHosts(sh.host, vh);
        if (h) hosts.add(h);
      }
    }
    if (hosts.size > 0) out.push({ vs, hosts: [...hosts].sort() });
  }
  return out;
}

/** Istio's l4 match for gateways: the server's port, its Gateway, and the router's labels. */
function matchApplies(m: L4MatchAttributes, proxy: Proxy, gs: GatewayServer): boolean {
  if (m.port !== undefined && m.port !== gs.port) return false;
  if (m.gateways && m.gateways.length > 0 && !m.gateways.includes(gs.gatewayName)) return false;
  return labelsMatch(m.sourceLabels, proxy.labels) && (!m.sourceNamespace || m.sourceNamespace === proxy.namespace);
}

/** tcp_proxy for a target; its stat prefix is the (first) cluster, as Istio names it. */
export function tcpProxyFor(push: PushContext, proxy: Proxy, target: L4Target): EnvoyJson {
  return withTcpTimeouts(push, proxy, tcpProxy(typeof target === 'string' ? target : target[0]!.name, target, push.mesh));
}

/** The first `tcp` route that applies to the server (TCP, or TLS terminated at the gateway). */
export function tcpRouteFilter(push: PushContext, proxy: Proxy, gs: GatewayServer): EnvoyJson | undefined {
  for (const { vs } of virtualServicesForServer(push, proxy, gs)) {
    for (const r of vs.spec.tcp ?? []) {
      const matches = r.match ?? [];
      if (matches.length > 0 && !matches.some((m) => matchApplies(m, proxy, gs))) continue;
      const target = l4Target(push, vs.metadata.namespace, r.route, gs.port);
      if (target) return tcpProxyFor(push, proxy, target);
    }
  }
  return undefined;
}

/**
 * PASSTHROUGH: one filter chain per applicable `tls` match, on the SNI names it shares with the
 * server's hosts; the TLS stream goes through untouched.
 */
export function tlsPassthroughChains(push: PushContext, proxy: Proxy, gs: GatewayServer): EnvoyJson[] {
  const chains: EnvoyJson[] = [];
  for (const { vs, hosts } of virtualServicesForServer(push, proxy, gs)) {
    for (const r of vs.spec.tls ?? []) {
      const target = l4Target(push, vs.metadata.namespace, r.route, gs.port);
      if (!target) continue;
      for (const m of r.match ?? [{}]) {
        if (!matchApplies(m, proxy, gs)) continue;
        const sni = new Set<string>();
        for (const s of m.sniHosts ?? hosts) for (const h of hosts) {
          const x = intersectHosts(h, s);
          if (x) sni.add(x);
        }
        if (sni.size === 0) continue;
        const names = [...sni].sort();
        const match: EnvoyJson = names.includes('*') ? {} : { server_names: names };
        chains.push({ filter_chain_match: match, filters: [tcpProxyFor(push, proxy, target)] });
      }
    }
  }
  return chains;
}
