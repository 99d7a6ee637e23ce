/**
 * AUTO_PASSTHROUGH servers (Istio's "sni-dnat" router mode, used by east-west gateways): the
 * client's SNI `outbound_.<port>_.<subset>_.<host>` names the destination, so no VirtualService is
 * needed. Each such name gets a filter chain whose tcp_proxy sends to a cluster of the same name:
 * a copy of `outbound|<port>|<subset>|<host>` without upstream TLS, since the client's mTLS
 * session passes through to the workload unchanged, and with EDS of its own name: the endpoints
 * on the gateway's own network only.
 */
import type { Service } from '../../registry/model.ts';
import type { EnvoyJson, NamedResource } from '../../xds/types.ts';
import { clusterName } from '../cluster/name.ts';
import { istioSni } from '../cluster/tls.ts';
import { destinationRuleFor } from '../destination_rule.ts';
import { hostMatches } from '../host.ts';
import { tcpProxy } from '../listener/filters.ts';
import type { Proxy, PushContext } from '../types.ts';
import { servicesForProxy } from '../visibility.ts';
import { namespaceAdmits } from './hosts.ts';
import type { GatewayServer, MergedGateway } from './servers.ts';

export interface SniDnatTarget {
  /** `outbound_.<port>_.<subset>_.<host>`: the SNI and the cluster name. */
  sni: string;
  /** The outbound cluster it copies. */
  outbound: string;
}

/** Every service port (and DestinationRule subset) one AUTO_PASSTHROUGH server exposes. */
export function sniDnatTargets(push: PushContext, proxy: Proxy, gs: GatewayServer): SniDnatTarget[] {
  const out: SniDnatTarget[] = [];
  const admitted = (svc: Service) => gs.hosts.some((sh) => namespaceAdmits(sh, svc.namespace) && hostMatches(sh.host, svc.hostname));
  for (const svc of servicesForProxy(push, proxy).filter(admitted)) {
    const subsets = [undefined, ...(destinationRuleFor(push, proxy, svc.hostname)?.subsets ?? []).map((s) => s.name)];
    for (const port of svc.ports) {
      if (port.protocol === 'UDP') continue;
      for (const subset of subsets) {
        out.push({ sni: istioSni({ host: svc.hostname, port: port.port, subset, identities: [] }), outbound: clusterName('outbound', port.port, subset, svc.hostname) });
      }
    }
  }
  return out;
}

/** One SNI-matched tcp_proxy chain per target. */
export function sniDnatChains(push: PushContext, proxy: Proxy, gs: GatewayServer): EnvoyJson[] {
  return sniDnatTargets(push, proxy, gs).map((t) => ({ filter_chain_match: { server_names: [t.sni] }, filters: [tcpProxy(t.sni, t.sni, push.mesh)] }));
}

/** The sni-dnat clusters a router needs, copied from its outbound clusters. */
export function sniDnatClusters(push: PushContext, proxy: Proxy, merged: MergedGateway, outbound: NamedResource[]): NamedResource[] {
  const byName = new Map(outbound.map((c) => [c.name, c.resource]));
  const out = new Map<string, NamedResource>();
  for (const mp of merged.ports) {
    for (const gs of mp.servers) {
      if (gs.kind !== 'auto_passthrough') continue;
      for (const t of sniDnatTargets(push, proxy, gs)) {
        const src = byName.get(t.outbound);
        if (!src || out.has(t.sni)) continue;
        const copy: EnvoyJson = structuredClone(src);
        copy.name = t.sni;
        // Its own EDS resource: only endpoints on the gateway's network that take mTLS
        // (src/pilot/network/split_horizon.ts's sniDnatEndpoints), never another network's gateway.
        if (copy.eds_cluster_config) copy.eds_cluster_config.service_name = t.sni;
        delete copy.transport_socket;
        delete copy.transport_socket_matches;
        if (copy.load_assignment) copy.load_assignment.cluster_name = t.sni;
        out.set(t.sni, { name: t.sni, resource: copy });
      }
    }
  }
  return [...out.values()];
}
