/**
 * LDS for a router: one bound listener per merged server port, named `0.0.0.0_<port>` as Istio
 * names gateway listeners (Istio's buildGatewayListeners).
 *
 * Bind address: 0.0.0.0 unless the node metadata carries `GATEWAY_BIND_ADDRESS` (a tsmesh
 * extension, e.g. "127.0.0.1" for a demo gateway on loopback). The listener keeps its
 * `0.0.0.0_<port>` name either way, so route and stats names do not depend on where it runs.
 */
import { isIP } from 'node:net';
import type { EnvoyJson } from '../../xds/types.ts';
import { httpConnectionManager, outboundHttpFilters, tlsInspector } from '../listener/filters.ts';
import { hcmTracing } from '../listener/tracing.ts';
import type { Proxy, PushContext } from '../types.ts';
import { socketAddress, stableStringify } from '../util.ts';
import { sniHosts } from './hosts.ts';
import { tcpRouteFilter, tlsPassthroughChains } from './l4.ts';
import { mergeGateways, type GatewayServer, type MergedPort } from './servers.ts';
import { sniDnatChains } from './sni_dnat.ts';
import { downstreamTlsSocket } from './tls.ts';
import { withAuthorization } from '../authz/apply.ts';

/** Node metadata key that moves a router's listeners off 0.0.0.0 (tsmesh-specific). */
export const GATEWAY_BIND_ADDRESS = 'GATEWAY_BIND_ADDRESS';
const WILDCARD = '0.0.0.0';

/** The address the router's listeners bind: GATEWAY_BIND_ADDRESS when it is an IP, else 0.0.0.0. */
export function gatewayBindAddress(proxy: Proxy): string {
  const v = proxy.metadata?.[GATEWAY_BIND_ADDRESS];
  return typeof v === 'string' && isIP(v.trim()) !== 0 ? v.trim() : WILDCARD;
}

export function gatewayListenerName(port: number): string {
  return `${WILDCARD}_${port}`;
}

/** Every gateway listener for the router, sorted by port; ports with no usable chain are left out. */
export function buildGatewayListeners(push: PushContext, proxy: Proxy): EnvoyJson[] {
  const address = gatewayBindAddress(proxy);
  const out: EnvoyJson[] = [];
  for (const mp of mergeGateways(push, proxy).ports) {
    const chains = withAuthorization(push, proxy, filterChains(push, proxy, mp));
    if (chains.length === 0) continue;
    const l: EnvoyJson = {
      name: gatewayListenerName(mp.port),
      address: socketAddress(address, mp.port),
      filter_chains: chains,
      bind_to_port: true,
      traffic_direction: 'OUTBOUND',
    };
    if (mp.family === 'tls') {
      l.listener_filters = [tlsInspector()];
      l.continue_on_listener_filters_timeout = true;
    }
    out.push(l);
  }
  return out;
}

function filterChains(push: PushContext, proxy: Proxy, mp: MergedPort): EnvoyJson[] {
  const statPrefix = `outbound_${gatewayListenerName(mp.port)}`;
  if (mp.family === 'http') {
    // Every plaintext HTTP server on the port shares one chain and one route configuration.
    return [{ filters: [gatewayHcm(push, proxy, statPrefix, mp.servers[0]!.routeName!)] }];
  }
  if (mp.family === 'tcp') {
    for (const gs of mp.servers) {
      const f = tcpRouteFilter(push, proxy, gs);
      if (f) return [{ filters: [f] }];
    }
    return [];
  }
  // TLS-based servers: chains told apart by SNI. Envoy rejects two chains with the same match,
  // so the first server to claim a match keeps it.
  const seen = new Set<string>();
  const out: EnvoyJson[] = [];
  for (const gs of mp.servers) {
    for (const chain of tlsServerChains(push, proxy, gs, statPrefix)) {
      const key = stableStringify(chain.filter_chain_match ?? {});
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(chain);
    }
  }
  return out;
}

function tlsServerChains(push: PushContext, proxy: Proxy, gs: GatewayServer, statPrefix: string): EnvoyJson[] {
  switch (gs.kind) {
    case 'passthrough':
      return tlsPassthroughChains(push, proxy, gs);
    case 'auto_passthrough':
      return sniDnatChains(push, proxy, gs);
    case 'https':
      return [withSni(gs, { transport_socket: downstreamTlsSocket(gs.server.tls!, true), filters: [gatewayHcm(push, proxy, statPrefix, gs.routeName!)] })];
    case 'tls_terminated': {
      const f = tcpRouteFilter(push, proxy, gs);
      return f ? [withSni(gs, { transport_socket: downstreamTlsSocket(gs.server.tls!, false), filters: [f] })] : [];
    }
    default:
      return [];
  }
}

/** A terminating server's chain matches its hosts as SNI; a `*` host matches any (or no) SNI. */
function withSni(gs: GatewayServer, chain: EnvoyJson): EnvoyJson {
  const names = sniHosts(gs.hosts);
  return names.length > 0 ? { filter_chain_match: { server_names: names }, ...chain } : chain;
}

/** The sidecar's HCM, but at the edge: the router is the first hop, so it sets X-Forwarded-For. */
function gatewayHcm(push: PushContext, proxy: Proxy, statPrefix: string, routeName: string): EnvoyJson {
  // Istio traces gateways with the Telemetry CLIENT spec (its listeners are OUTBOUND).
  const hcm = httpConnectionManager({ statPrefix, rds: routeName, httpFilters: outboundHttpFilters(), mesh: push.mesh, tracing: hcmTracing(push, proxy, 'CLIENT') });
  hcm.typed_config.use_remote_address = true;
  // gatewayTopology.numTrustedProxies: the client address comes from that many X-Forwarded-For
  // hops back (what remoteIpBlocks and remote.ip match), as behind a load balancer.
  const hops = Number(push.mesh.defaultConfig?.gatewayTopology?.numTrustedProxies ?? 0);
  if (hops > 0) hcm.typed_config.xff_num_trusted_hops = hops;
  return hcm;
}
