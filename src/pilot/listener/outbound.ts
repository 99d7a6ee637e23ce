/**
 * Outbound listeners, one per service port as Istio lays them out: HTTP ports share
 * `0.0.0.0_<port>` with an RDS route named "<port>"; TCP ports get `<vip>_<port>` (or
 * `0.0.0.0_<port>` without a VIP) with tcp_proxy; TLS ports match SNI. All have bind_to_port
 * false: traffic reaches them through virtualOutbound (15001) by original destination.
 *
 * With a `bind` (INTERCEPTION_MODE NONE) only the TCP/TLS listeners are built, each bound for
 * real on `<bind address>:<port>`; HTTP goes through the HTTP proxy listener instead.
 */
import type { Service, ServicePort } from '../../registry/model.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { clusterName } from '../cluster/name.ts';
import { egressAllows, servicesForProxy, sidecarScopeFor } from '../visibility.ts';
import { virtualServicesForHost, virtualServicesForProxy, type VirtualService } from '../virtualservice/index.ts';
import { socketAddress } from '../util.ts';
import { isHttpProtocol, isTlsProtocol } from '../protocol.ts';
import { httpConnectionManager, outboundHttpFilters, tcpProxy, tlsInspector } from './filters.ts';
import { hcmTracing } from './tracing.ts';
import { withTcpTimeouts } from './tcp_timeouts.ts';
import { tcpRouteChains, tlsRouteChains } from './tcp_routes.ts';
import { serviceAddressesForProxy } from '../nds/auto_allocate.ts';

const WILDCARD = '0.0.0.0';

/** NONE mode: where TCP listeners bind, and ports they must leave alone. */
export interface OutboundBind {
  address: string;
  /** Ports already bound on `address` (the app's own ports, the HTTP proxy port). */
  reserved: ReadonlySet<number>;
}

interface Pending {
  name: string;
  address: string;
  port: number;
  kind: 'http' | 'tcp' | 'tls';
  chains: EnvoyJson[];
  tlsInspector: boolean;
}

/** All outbound per-port listeners for a sidecar, unsorted. */
export function buildOutboundListeners(push: PushContext, proxy: Proxy, bind?: OutboundBind): EnvoyJson[] {
  const byName = new Map<string, Pending>();
  const vsList = virtualServicesForProxy(push, proxy);
  const scope = sidecarScopeFor(push, proxy);
  for (const svc of servicesForProxy(push, proxy)) {
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      // A Sidecar egress listener for this port decides which hosts it serves.
      if (!egressAllows(scope, proxy.namespace, svc.namespace, svc.hostname, port.port)) continue;
      if (isHttpProtocol(port.protocol)) {
        if (!bind) addHttp(byName, push, proxy, port);
      } else addTcp(byName, push, proxy, vsList, svc, port);
    }
  }
  const pending = [...byName.values()];
  return bind ? rebind(pending, bind).map((p) => finish(p, true)) : pending.map((p) => finish(p, false));
}

/**
 * NONE mode has no original destination to tell VIPs apart: one listener per port on the bind
 * address. Listeners are taken in name order (so `0.0.0.0_<port>`, which gathers SNI-routed TLS
 * services, comes first) and the first per port wins; a port the workload itself listens on, or
 * the HTTP proxy port, is skipped, since binding it would collide with that socket. Chains that
 * match VIP destination subnets cannot match here (the destination is the bind address).
 */
function rebind(pending: Pending[], bind: OutboundBind): Pending[] {
  const out = new Map<number, Pending>();
  for (const p of [...pending].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (bind.reserved.has(p.port) || out.has(p.port)) continue;
    out.set(p.port, { ...p, name: `${bind.address}_${p.port}`, address: bind.address });
  }
  return [...out.values()];
}

function addHttp(byName: Map<string, Pending>, push: PushContext, proxy: Proxy, port: ServicePort): void {
  const name = `${WILDCARD}_${port.port}`;
  const existing = byName.get(name);
  if (existing?.kind === 'http') return;
  // HTTP wins a port shared with VIP-less TCP services (Istio resolves the conflict the same way).
  const hcm = httpConnectionManager({ statPrefix: `outbound_${name}`, rds: String(port.port), httpFilters: outboundHttpFilters(), mesh: push.mesh, tracing: hcmTracing(push, proxy, 'CLIENT') });
  byName.set(name, { name, address: WILDCARD, port: port.port, kind: 'http', chains: [{ filters: [hcm] }], tlsInspector: false });
}

function addTcp(byName: Map<string, Pending>, push: PushContext, proxy: Proxy, vsList: VirtualService[], svc: Service, port: ServicePort): void {
  // The proxy's view of the addresses: an auto-allocated VIP where DNS_AUTO_ALLOCATE asks (nds/).
  const vip = serviceAddressesForProxy(push, proxy, svc).find((a) => !a.includes('/')) ?? undefined;
  const address = vip ?? WILDCARD;
  const name = `${address}_${port.port}`;
  const existing = byName.get(name);
  if (existing && existing.kind !== 'tls') return; // first service on a VIP-less port wins
  const defaultCluster = clusterName('outbound', port.port, undefined, svc.hostname);
  // tcp/tls routes are not merged across VirtualServices: the oldest of the most specific wins.
  const vs = virtualServicesForHost(vsList, svc.hostname)[0];
  const isTls = isTlsProtocol(port.protocol);

  let chains: EnvoyJson[] | undefined;
  let inspector = false;
  if (isTls && vs) {
    chains = tlsRouteChains(push, proxy, vs, svc, port);
    inspector = chains !== undefined;
  }
  if (!chains && vs) chains = tcpRouteChains(push, proxy, vs, svc, port, defaultCluster);
  if (!chains) {
    const chain: EnvoyJson = { filters: [withTcpTimeouts(push, proxy, tcpProxy(defaultCluster, defaultCluster, push.mesh))] };
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

function finish(p: Pending, bound: boolean): EnvoyJson {
  const l: EnvoyJson = {
    name: p.name,
    address: socketAddress(p.address, p.port),
    filter_chains: p.chains,
    bind_to_port: bound,
    traffic_direction: 'OUTBOUND',
  };
  if (p.tlsInspector) {
    l.listener_filters = [tlsInspector()];
    l.continue_on_listener_filters_timeout = true;
  }
  return l;
}
