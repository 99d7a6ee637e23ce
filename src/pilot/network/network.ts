/**
 * Which network a proxy and an endpoint are on (Istio's network.ID), and which endpoints a proxy
 * may see (its REQUESTED_NETWORK_VIEW). An endpoint's network is, in Istio's order: the one its
 * registry gave it (WorkloadEntry / ServiceEntry endpoint `network`, a registered proxy's
 * NETWORK), else its `topology.istio.io/network` label, else the meshNetworks network whose
 * `fromCidr` holds its address. An empty network is "unknown": Istio counts it as the same network
 * as anything.
 */
import { BlockList, isIP } from 'node:net';
import type { Endpoint } from '../../registry/model.ts';
import type { Proxy, PushContext } from '../types.ts';

/** Istio's network label on pods, WorkloadEntries, namespaces and east-west gateway Services. */
export const NETWORK_LABEL = 'topology.istio.io/network';
/** On an east-west gateway Service: the port remote networks reach it on (Istio's label). */
export const GATEWAY_PORT_LABEL = 'networking.istio.io/gatewayPort';
/** The east-west gateway's AUTO_PASSTHROUGH port when GATEWAY_PORT_LABEL does not say. */
export const DEFAULT_GATEWAY_PORT = 15443;

/** The network fields of a Proxy, from node metadata (NETWORK, REQUESTED_NETWORK_VIEW) and labels. */
export function proxyNetworkOf(md: Record<string, unknown>, labels: Record<string, string>): { network?: string; requestedNetworkView?: string[] } {
  const out: { network?: string; requestedNetworkView?: string[] } = {};
  const network = (typeof md.NETWORK === 'string' && md.NETWORK) || labels[NETWORK_LABEL];
  if (network) out.network = network;
  // pilot-agent sends ISTIO_META_REQUESTED_NETWORK_VIEW as a comma-separated string; a list also reads.
  const raw = md.REQUESTED_NETWORK_VIEW;
  const view = (Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : []).map((s) => String(s).trim()).filter(Boolean);
  if (view.length > 0) out.requestedNetworkView = view;
  return out;
}

const cidrIndexes = new WeakMap<PushContext, Array<{ network: string; v4: BlockList; v6: BlockList }>>();

function cidrIndex(push: PushContext): Array<{ network: string; v4: BlockList; v6: BlockList }> {
  let idx = cidrIndexes.get(push);
  if (idx) return idx;
  idx = [];
  for (const [network, n] of Object.entries(push.mesh.meshNetworks?.networks ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const v4 = new BlockList();
    const v6 = new BlockList();
    let any = false;
    for (const e of n.endpoints ?? []) {
      if (!e.fromCidr) continue;
      const [ip, bits] = e.fromCidr.split('/') as [string, string | undefined];
      const fam = isIP(ip);
      const list = fam === 6 ? v6 : v4;
      list.addSubnet(ip, bits === undefined ? (fam === 6 ? 128 : 32) : Number(bits), fam === 6 ? 'ipv6' : 'ipv4');
      any = true;
    }
    if (any) idx.push({ network, v4, v6 });
  }
  cidrIndexes.set(push, idx);
  return idx;
}

/** The endpoint's network, '' when unknown. */
export function endpointNetwork(push: PushContext, e: Endpoint): string {
  if (e.network) return e.network;
  const label = e.labels[NETWORK_LABEL];
  if (label) return label;
  const fam = isIP(e.address);
  if (fam === 0) return '';
  for (const c of cidrIndex(push)) if ((fam === 6 ? c.v6 : c.v4).check(e.address, fam === 6 ? 'ipv6' : 'ipv4')) return c.network;
  return '';
}

/** Istio's Proxy.InNetwork: the same network, or either side unknown. */
export function inNetwork(proxy: Proxy, network: string): boolean {
  return !network || !proxy.network || network === proxy.network;
}

/** Istio's ProxyView: with REQUESTED_NETWORK_VIEW, only endpoints on those networks (or on none). */
export function visibleToProxy(proxy: Proxy, network: string): boolean {
  return !proxy.requestedNetworkView || network === '' || proxy.requestedNetworkView.includes(network);
}
