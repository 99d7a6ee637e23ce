/**
 * The gateways that reach each network from outside it (Istio's NetworkGateways), from two places:
 * - meshNetworks `gateways`: an `address` with its `port`, or a `registryServiceName` whose
 *   external addresses (Kubernetes spec.externalIPs) are the gateway, on the gateway's `port`;
 * - registry services labelled `topology.istio.io/network` (Istio's east-west gateway Service
 *   convention): their external addresses on the `networking.istio.io/gatewayPort` service port
 *   (default 15443).
 * As in Istio, a gateway is what other networks reach: the Service's external address, never its
 * pods' IPs (those sit on the gateway's own network). A gateway Service without an external
 * address, or a registryServiceName naming no service, gives that network no gateway; each such
 * problem is reported (once per distinct message) and listed in `problems`.
 * Computed once per PushContext; sorted and deduplicated, so EDS output stays deterministic.
 */
import type { Service } from '../../registry/model.ts';
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
  /** Gateways given but unusable (no external address, unknown service), one message each. */
  problems: string[];
}

const cache = new WeakMap<PushContext, NetworkGateways>();

export function networkGateways(push: PushContext): NetworkGateways {
  let gws = cache.get(push);
  if (gws) return gws;
  const found = new Map<string, NetworkGateway>();
  const problems: string[] = [];
  const add = (network: string, address: string, port: number) => {
    if (network && address) found.set(`${network}|${address}|${port}`, { network, address, port });
  };
  const external = (svc: Service, network: string, port: number, where: string) => {
    const addresses = svc.externalAddresses ?? [];
    if (addresses.length === 0) {
      problems.push(`${where}: gateway Service ${svc.namespace}/${svc.name} has no external address (spec.externalIPs): network ${network} has no gateway from it`);
    }
    for (const a of addresses) add(network, a, port);
  };

  for (const [network, n] of Object.entries(push.mesh.meshNetworks?.networks ?? {})) {
    (n.gateways ?? []).forEach((g, i) => {
      const where = `meshNetworks.networks.${network}.gateways[${i}]`;
      if (g.address) add(network, g.address, g.port);
      else if (g.registryServiceName) {
        const svc = pushIndex(push).servicesByHost.get(g.registryServiceName);
        if (svc) external(svc, network, g.port, `${where}.registryServiceName`);
        else problems.push(`${where}.registryServiceName: no service ${g.registryServiceName}: network ${network} has no gateway from it`);
      }
    });
  }
  for (const svc of push.services) {
    const network = svc.labels[NETWORK_LABEL];
    if (!network) continue;
    const port = Number(svc.labels[GATEWAY_PORT_LABEL] ?? DEFAULT_GATEWAY_PORT);
    if (!svc.ports.some((p) => p.port === port)) {
      problems.push(`Service ${svc.namespace}/${svc.name} (label ${NETWORK_LABEL}=${network}): no service port ${port} (label ${GATEWAY_PORT_LABEL}, default ${DEFAULT_GATEWAY_PORT}): network ${network} has no gateway from it`);
      continue;
    }
    external(svc, network, port, `Service ${svc.namespace}/${svc.name} (label ${NETWORK_LABEL}=${network})`);
  }
  for (const p of problems) reportOnce(p);

  const byNetwork = new Map<string, NetworkGateway[]>();
  for (const g of [...found.values()].sort((a, b) => cmp(a.network, b.network) || cmp(a.address, b.address) || a.port - b.port)) {
    byNetwork.set(g.network, [...(byNetwork.get(g.network) ?? []), g]);
  }
  let scaleFactor = 1;
  for (const list of byNetwork.values()) scaleFactor = lcm(scaleFactor, list.length);
  gws = { byNetwork, scaleFactor, problems };
  cache.set(push, gws);
  return gws;
}

/** Each distinct problem once per process: the gateways are recomputed on every push. */
const reported = new Set<string>();
function reportOnce(problem: string): void {
  if (reported.has(problem)) return;
  if (reported.size > 1000) reported.clear();
  reported.add(problem);
  console.error(`warning: multi-network: ${problem}`);
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
