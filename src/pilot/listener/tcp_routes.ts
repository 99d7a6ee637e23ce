/**
 * VirtualService `tcp:` and `tls:` routes for one service port, as listener filter chains: TCP
 * routes match on destination subnets, TLS routes on SNI (Istio's buildSidecarOutboundTCPTLS...).
 */
import type { L4MatchAttributes } from '../../api/networking.ts';
import type { Service, ServicePort } from '../../registry/model.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { hostMatches } from '../host.ts';
import { l4Target } from '../route/weighted.ts';
import { labelsMatch } from '../util.ts';
import type { VirtualService } from '../virtualservice/index.ts';
import { tcpProxy } from './filters.ts';
import { withTcpTimeouts } from './tcp_timeouts.ts';

/**
 * Filter chains for the `tcp` routes of `vs` that apply to this port and proxy, in order; undefined
 * when none apply. A chain without destinationSubnets catches everything, so later ones are dropped.
 */
export function tcpRouteChains(push: PushContext, proxy: Proxy, vs: VirtualService, svc: Service, port: ServicePort, statPrefix: string): EnvoyJson[] | undefined {
  const chains: EnvoyJson[] = [];
  for (const r of vs.spec.tcp ?? []) {
    const target = l4Target(push, vs.metadata.namespace, r.route, port.port);
    if (!target) continue;
    for (const m of applicableMatches(r.match, proxy, port.port)) {
      const chain: EnvoyJson = { filters: [withTcpTimeouts(push, proxy, tcpProxy(typeof target === 'string' ? target : statPrefix, target, push.mesh))] };
      if (m?.destinationSubnets?.length) chain.filter_chain_match = { prefix_ranges: m.destinationSubnets.map(cidr) };
      chains.push(chain);
      if (!chain.filter_chain_match) return chains;
    }
  }
  return chains.length > 0 ? chains : undefined;
}

/** Filter chains for `tls` routes, each matching its SNI hosts; needs the tls_inspector. */
export function tlsRouteChains(push: PushContext, proxy: Proxy, vs: VirtualService, svc: Service, port: ServicePort): EnvoyJson[] | undefined {
  const chains: EnvoyJson[] = [];
  for (const r of vs.spec.tls ?? []) {
    const target = l4Target(push, vs.metadata.namespace, r.route, port.port);
    if (!target) continue;
    for (const m of applicableMatches(r.match, proxy, port.port)) {
      // SNI hosts must name this service (or be a wildcard covering it) to belong on its listener.
      const sni = (m?.sniHosts ?? [svc.hostname]).filter((h) => hostMatches(h, svc.hostname) || hostMatches(svc.hostname, h));
      if (sni.length === 0) continue;
      const match: EnvoyJson = { server_names: sni };
      if (m?.destinationSubnets?.length) match.prefix_ranges = m.destinationSubnets.map(cidr);
      const prefix = typeof target === 'string' ? target : `outbound|${port.port}||${svc.hostname}`;
      chains.push({ filter_chain_match: match, filters: [withTcpTimeouts(push, proxy, tcpProxy(prefix, target, push.mesh))] });
    }
  }
  return chains.length > 0 ? chains : undefined;
}

/** Matches of a route that apply on this port for this proxy; `[undefined]` when it has none. */
function applicableMatches(matches: L4MatchAttributes[] | undefined, proxy: Proxy, port: number): Array<L4MatchAttributes | undefined> {
  if (!matches || matches.length === 0) return [undefined];
  return matches.filter(
    (m) =>
      (m.port === undefined || m.port === port) &&
      labelsMatch(m.sourceLabels, proxy.labels) &&
      (!m.sourceNamespace || m.sourceNamespace === proxy.namespace) &&
      (!m.gateways || m.gateways.length === 0 || m.gateways.includes('mesh')),
  );
}

function cidr(s: string): EnvoyJson {
  const [address, len] = s.split('/');
  const v6 = address!.includes(':');
  return { address_prefix: address, prefix_len: len !== undefined ? Number(len) : v6 ? 128 : 32 };
}
