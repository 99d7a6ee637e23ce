/**
 * Outbound listeners, one per service port as Istio lays them out: HTTP ports share
 * `0.0.0.0_<port>` with an RDS route named "<port>"; TCP ports get `<vip>_<port>` (or
 * `0.0.0.0_<port>` without a VIP) with tcp_proxy; TLS ports match SNI. All have bind_to_port
 * false: traffic reaches them through virtualOutbound (15001) by original destination.
 */
import type { Config } from '../../api/types.ts';
import type { Service, ServicePort } from '../../registry/model.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { clusterName } from '../cluster/name.ts';
import { servicesForProxy, virtualServicesForProxy } from '../visibility.ts';
import { socketAddress } from '../util.ts';
import { httpConnectionManager, outboundHttpFilters, tcpProxy, tlsInspector } from './filters.ts';
import { tcpRouteChains, tlsRouteChains, virtualServiceFor } from './tcp_routes.ts';

const HTTP_FAMILY = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
const TLS_FAMILY = new Set(['HTTPS', 'TLS']);
const WILDCARD = '0.0.0.0';

interface Pending {
  name: string;
  address: string;
  port: number;
  kind: 'http' | 'tcp' | 'tls';
  chains: EnvoyJson[];
  tlsInspector: boolean;
}

/** All outbound per-port listeners for a sidecar, unsorted. */
export function buildOutboundListeners(push: PushContext, proxy: Proxy): EnvoyJson[] {
  const byName = new Map<string, Pending>();
  const vsList = virtualServicesForProxy(push, proxy);
  for (const svc of servicesForProxy(push, proxy)) {
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      if (HTTP_FAMILY.has(port.protocol)) addHttp(byName, push, port);
      else addTcp(byName, push, proxy, vsList, svc, port);
    }
  }
  return [...byName.values()].map(finish);
}

function addHttp(byName: Map<string, Pending>, push: PushContext, port: ServicePort): void {
  const name = `${WILDCARD}_${port.port}`;
  const existing = byName.get(name);
  if (existing?.kind === 'http') return;
  // HTTP wins a port shared with VIP-less TCP services (Istio resolves the conflict the same way).
  const hcm = httpConnectionManager({ statPrefix: `outbound_${name}`, rds: String(port.port), httpFilters: outboundHttpFilters(), mesh: push.mesh });
  byName.set(name, { name, address: WILDCARD, port: port.port, kind: 'http', chains: [{ filters: [hcm] }], tlsInspector: false });
}

function addTcp(byName: Map<string, Pending>, push: PushContext, proxy: Proxy, vsList: Config[], svc: Service, port: ServicePort): void {
  const vip = svc.addresses.find((a) => !a.includes('/')) ?? undefined;
  const address = vip ?? WILDCARD;
  const name = `${address}_${port.port}`;
  const existing = byName.get(name);
  if (existing && existing.kind !== 'tls') return; // first service on a VIP-less port wins
  const defaultCluster = clusterName('outbound', port.port, undefined, svc.hostname);
  const vs = virtualServiceFor(vsList, svc.hostname);
  const isTls = TLS_FAMILY.has(port.protocol);

  let chains: EnvoyJson[] | undefined;
  let inspector = false;
  if (isTls && vs) {
    chains = tlsRouteChains(push, proxy, vs, svc, port);
    inspector = chains !== undefined;
  }
  if (!chains && vs) chains = tcpRouteChains(push, proxy, vs, svc, port, defaultCluster);
  if (!chains) {
    const chain: EnvoyJson = { filters: [tcpProxy(defaultCluster, defaultCluster, push.mesh)] };
    // Without a VIP, TLS services share 0.0.0.0_<port> and are told apart by SNI.
    if (isTls && !vip) {
      chain.filter_chain_match = { server_names: [svc.hostname] };
      inspector = true;
    }
    chains = [chain];
  }
  if (existing) {
    // Another SNI-routed TLS service on the same VIP-less port: add its chains.
    existing.chains.push(...chains.filter((c) => c.filter_chain_match?.server_names));
    existing.tlsInspector ||= inspector;
    return;
  }
  byName.set(name, { name, address, port: port.port, kind: isTls && inspector ? 'tls' : 'tcp', chains, tlsInspector: inspector });
}

function finish(p: Pending): EnvoyJson {
  const l: EnvoyJson = {
    name: p.name,
    address: socketAddress(p.address, p.port),
    filter_chains: p.chains,
    bind_to_port: false,
    traffic_direction: 'OUTBOUND',
  };
  if (p.tlsInspector) {
    l.listener_filters = [tlsInspector()];
    l.continue_on_listener_filters_timeout = true;
  }
  return l;
}
