/**
 * The gateways that reach each network from outside it (Istio's NetworkGateways), from two places:
 * - meshNetworks `gateways`: an `address` with its `port`, or a `registryServiceName` whose
 *   endpoints on that service port are the gateway's instances;
 * - registry services labelled `topology.istio.io/network` (Istio's east-west gateway Service
 *   convention): their endpoints on the `networking.istio.io/gatewayPort` port (default 15443).
 * Computed once per PushContext; sorted and deduplicated, so EDS output stays deterministic.
 */
import type { Endpoint } from '../../registry/model.ts';
import type { PushContext } from '../types.ts';
import { cmp } from '../util.ts';
import { DEFAULT_GATEWAY_PORT, GATEWAY_PORT_LABEL, NETWORK_LABEL } from './network.ts';
import { pushIndex } from '../push_context.ts';

export interface NetworkGateway {
  network: string;
  address: string;
  port: number;
}

export interface NetworkGateways {
  byNetwork: Map<string, NetworkGateway[]>;
  /**
   * Istio's LB weight scale factor: the least common multiple of the gateway counts per network,
   * so an endpoint's weight splits evenly over its network's gateways in whole numbers.
   */
  scaleFactor: number;
}

const cache = new WeakMap<PushContext, NetworkGateways>();

export function networkGateways(push: PushContext): NetworkGateways {
  let gws = cache.get(push);
  if (gws) return gws;
  const found = new Map<string, NetworkGateway>();
  const add = (network: string, address: string, port: number) => {
    if (network && address) found.set(`${network}|${address}|${port}`, { network, address, port });
  };
  const healthyEndpoints = (hostname: string, port: number): Endpoint[] => (push.endpoints.get(`${hostname}|${port}`) ?? []).filter((e) => e.healthy);

  for (const [network, n] of Object.entries(push.mesh.meshNetworks?.networks ?? {})) {
    for (const g of n.gateways ?? []) {
      if (g.address) add(network, g.address, g.port);
      else if (g.registryServiceName && pushIndex(push).servicesByHost.has(g.registryServiceName)) {
        for (const e of healthyEndpoints(g.registryServiceName, g.port)) add(network, e.address, e.port);
      }
    }
  }
  for (const svc of push.services) {
    const network = svc.labels[NETWORK_LABEL];
    if (!network) continue;
    const port = Number(svc.labels[GATEWAY_PORT_LABEL] ?? DEFAULT_GATEWAY_PORT);
    if (!svc.ports.some((p) => p.port === port)) continue;
    for (const e of healthyEndpoints(svc.hostname, port)) add(network, e.address, e.port);
  }

  const byNetwork = new Map<string, NetworkGateway[]>();
  for (const g of [...found.values()].sort((a, b) => cmp(a.network, b.network) || cmp(a.address, b.address) || a.port - b.port)) {
    byNetwork.set(g.network, [...(byNetwork.get(g.network) ?? []), g]);
  }
  let scaleFactor = 1;
  for (const list of byNetwork.values()) scaleFactor = lcm(scaleFactor, list.length);
  gws = { byNetwork, scaleFactor };
  cache.set(push, gws);
  return gws;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
