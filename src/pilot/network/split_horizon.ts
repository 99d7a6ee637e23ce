/**
 * Split-horizon EDS (Istio's EndpointsByNetworkFilter): what one proxy gets for a cluster when the
 * mesh spans networks. Endpoints the proxy can reach (its own network, an unknown network, or a
 * network no gateway is known for) stay as they are; each endpoint on another network is replaced
 * by that network's east-west gateways, every gateway carrying the summed weight of the endpoints
 * it stands for, one gateway endpoint per locality. Crossing networks relies on the client's mesh
 * mTLS (the gateway routes on its SNI), so endpoints the client would not reach with mTLS are
 * dropped there. Without any known gateway, nothing changes (Istio: multi-network is off).
 *
 * The east-west gateway itself (its AUTO_PASSTHROUGH sni-dnat clusters) gets only the endpoints
 * on its own network that accept mTLS: sniDnatEndpoints.
 */
import type { Endpoint } from '../../registry/model.ts';
import type { Proxy, PushContext } from '../types.ts';
import { cmp } from '../util.ts';
import { localityKey } from '../locality_lb.ts';
import { networkGateways } from './gateways.ts';
import { endpointNetwork, inNetwork, NETWORK_LABEL, visibleToProxy } from './network.ts';

/** Whether the calling proxy would talk mesh mTLS to this endpoint (Istio's mtlsChecker). */
export type MtlsCheck = (e: Endpoint) => boolean;

export function splitHorizonEndpoints(push: PushContext, proxy: Proxy, endpoints: Endpoint[], mtls: MtlsCheck): Endpoint[] {
  const gws = networkGateways(push);
  // The common single-network mesh: nothing to filter, nothing to copy.
  if (gws.byNetwork.size === 0 && !proxy.requestedNetworkView) return endpoints;
  const visible = proxy.requestedNetworkView ? endpoints.filter((e) => visibleToProxy(proxy, endpointNetwork(push, e))) : endpoints;
  if (gws.byNetwork.size === 0) return visible;
  const scale = gws.scaleFactor;
  const out: Endpoint[] = [];
  // Per locality, the weight each remote gateway collects (Istio keeps the gateway endpoint in
  // the locality of the endpoints it replaces).
  const remote = new Map<string, { sample: Endpoint; weights: Map<string, { network: string; address: string; port: number; weight: number }> }>();
  for (const e of visible) {
    const network = endpointNetwork(push, e);
    const weight = (e.weight || 1) * scale;
    const gateways = gws.byNetwork.get(network) ?? [];
    if (inNetwork(proxy, network) || gateways.length === 0) {
      out.push(weight === e.weight ? e : { ...e, weight });
      continue;
    }
    // An unhealthy endpoint draws no traffic through its gateway; mTLS is what the gateway routes on.
    if (!e.healthy || !mtls(e)) continue;
    const key = localityKey(e.locality);
    const slot = remote.get(key) ?? { sample: e, weights: new Map() };
    remote.set(key, slot);
    const share = Math.floor(weight / gateways.length);
    for (const g of gateways) {
      const k = `${g.address}|${g.port}`;
      const w = slot.weights.get(k) ?? { ...g, weight: 0 };
      w.weight += share;
      slot.weights.set(k, w);
    }
  }
  for (const { sample, weights } of [...remote.values()].sort((a, b) => cmp(localityKey(a.sample.locality), localityKey(b.sample.locality)))) {
    for (const g of [...weights.values()].sort((a, b) => cmp(a.address, b.address) || a.port - b.port)) {
      out.push({
        service: sample.service,
        servicePortName: sample.servicePortName,
        address: g.address,
        port: g.port,
        labels: { [NETWORK_LABEL]: g.network },
        locality: sample.locality,
        network: g.network,
        weight: Math.max(1, g.weight),
        healthy: true,
        namespace: sample.namespace,
        // The gateway passes the client's mTLS through: auto mTLS must pick ISTIO_MUTUAL for it.
        tlsModeIstio: true,
      });
    }
  }
  return out;
}

/**
 * The endpoints behind an east-west gateway's sni-dnat cluster: those on the gateway's own
 * network (a remote one would send traffic on to yet another gateway) and, as Istio's
 * EndpointsWithMTLSFilter, only those that take mTLS, since the gateway cannot tell whether the
 * passed-through connection is mesh mTLS.
 */
export function sniDnatEndpoints(push: PushContext, proxy: Proxy, endpoints: Endpoint[], mtls: MtlsCheck): Endpoint[] {
  return endpoints.filter((e) => inNetwork(proxy, endpointNetwork(push, e)) && mtls(e));
}
