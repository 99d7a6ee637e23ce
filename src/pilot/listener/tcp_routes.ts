/**
 * VirtualService `tcp:` and `tls:` routes for one service port, as listener filter chains: TCP
 * routes match on destination subnets, TLS routes on SNI (Istio's buildSidecarOutboundTCPTLS...).
 */
import type { Config } from '../../api/types.ts';
import type { Service, ServicePort } from '../../registry/model.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { clusterName } from '../cluster/name.ts';
import { hostMatches, mostSpecificMatch, resolveHost } from '../host.ts';
import { labelsMatch } from '../util.ts';
import { tcpProxy } from './filters.ts';

interface Destination {
  destination: { host: string; subset?: string; port?: { number?: number } };
  weight?: number;
}
interface L4Match {
  port?: number;
  destinationSubnets?: string[];
  sourceLabels?: Record<string, string>;
  sniHosts?: string[];
  gateways?: string[];
}
interface L4Route {
  match?: L4Match[];
  route?: Destination[];
}

/** The VirtualService whose hosts match `svc` most specifically (first of equals wins). */
export function virtualServiceFor(vsList: Config[], hostname: string): Config | undefined {
  let best: { vs: Config; host: string } | undefined;
  for (const vs of vsList) {
    const hosts = (vs.spec?.hosts ?? []).map((h: string) => resolveHost(h, vs.metadata.namespace));
    const m = mostSpecificMatch(hostname, hosts);
    if (m === undefined) continue;
    if (!best || (m === hostname && best.host !== hostname) || (best.host !== hostname && m.length > best.host.length)) best = { vs, host: m };
  }
  return best?.vs;
}

/**
 * Filter chains for the `tcp` routes of `vs` that apply to this port and proxy, in order; undefined
 * when none apply. A chain without destinationSubnets catches everything, so later ones are dropped.
 */
export function tcpRouteChains(push: PushContext, proxy: Proxy, vs: Config, svc: Service, port: ServicePort, statPrefix: string): EnvoyJson[] | undefined {
  const chains: EnvoyJson[] = [];
  for (const r of (vs.spec?.tcp ?? []) as L4Route[]) {
    const target = weighted(r.route ?? [], vs.metadata.namespace, port.port);
    if (!target) continue;
    for (const m of applicableMatches(r.match, proxy, port.port)) {
      const chain: EnvoyJson = { filters: [tcpProxy(typeof target === 'string' ? target : statPrefix, target, push.mesh)] };
      if (m?.destinationSubnets?.length) chain.filter_chain_match = { prefix_ranges: m.destinationSubnets.map(cidr) };
      chains.push(chain);
      if (!chain.filter_chain_match) return chains;
    }
  }
  return chains.length > 0 ? chains : undefined;
}

/** Filter chains for `tls` routes, each matching its SNI hosts; needs the tls_inspector. */
export function tlsRouteChains(push: PushContext, proxy: Proxy, vs: Config, svc: Service, port: ServicePort): EnvoyJson[] | undefined {
  const chains: EnvoyJson[] = [];
  for (const r of (vs.spec?.tls ?? []) as L4Route[]) {
    const target = weighted(r.route ?? [], vs.metadata.namespace, port.port);
    if (!target) continue;
    for (const m of applicableMatches(r.match, proxy, port.port)) {
      // SNI hosts must name this service (or be a wildcard covering it) to belong on its listener.
      const sni = (m?.sniHosts ?? [svc.hostname]).filter((h) => hostMatches(h, svc.hostname) || hostMatches(svc.hostname, h));
      if (sni.length === 0) continue;
      const match: EnvoyJson = { server_names: sni };
      if (m?.destinationSubnets?.length) match.prefix_ranges = m.destinationSubnets.map(cidr);
      const prefix = typeof target === 'string' ? target : `outbound|${port.port}||${svc.hostname}`;
      chains.push({ filter_chain_match: match, filters: [tcpProxy(prefix, target, push.mesh)] });
    }
  }
  return chains.length > 0 ? chains : undefined;
}

/** Matches of a route that apply on this port for this proxy; `[undefined]` when it has none. */
function applicableMatches(matches: L4Match[] | undefined, proxy: Proxy, port: number): Array<L4Match | undefined> {
  if (!matches || matches.length === 0) return [undefined];
  return matches.filter(
    (m) =>
      (m.port === undefined || m.port === port) &&
      labelsMatch(m.sourceLabels, proxy.labels) &&
      (!m.gateways || m.gateways.length === 0 || m.gateways.includes('mesh')),
  );
}

/** One cluster name, or weighted clusters when a route splits traffic. */
function weighted(route: Destination[], namespace: string, defaultPort: number): string | Array<{ name: string; weight: number }> | undefined {
  if (route.length === 0) return undefined;
  const items = route.map((d) => ({
    name: clusterName('outbound', d.destination.port?.number ?? defaultPort, d.destination.subset, resolveHost(d.destination.host, namespace)),
    weight: d.weight ?? (route.length === 1 ? 100 : 0),
  }));
  if (items.length === 1) return items[0]!.name;
  return items.filter((i) => i.weight > 0);
}

function cidr(s: string): EnvoyJson {
  const [address, len] = s.split('/');
  const v6 = address!.includes(':');
  return { address_prefix: address, prefix_len: len !== undefined ? Number(len) : v6 ? 128 : 32 };
}
