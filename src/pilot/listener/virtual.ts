/**
 * The two capture listeners: virtualOutbound (15001) hands redirected connections to the
 * per-port listener for their original destination, or to PassthroughCluster / BlackHoleCluster;
 * virtualInbound (15006) terminates traffic for the workload's own ports (mTLS per
 * PeerAuthentication) and passes anything else through. Only for REDIRECT / TPROXY capture.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { BLACKHOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER } from '../cluster/name.ts';
import { allowAnyCluster } from '../cluster/egress_proxy.ts';
import { interceptionMode } from '../interception.ts';
import { sidecarScopeFor } from '../visibility.ts';
import { inboundPortsFor } from '../sidecar_ingress.ts';
import { socketAddress } from '../util.ts';
import { originalDst, tcpProxy, tlsInspector } from './filters.ts';
import { inboundFilterChains } from './inbound.ts';

export const VIRTUAL_OUTBOUND = 'virtualOutbound';
export const VIRTUAL_INBOUND = 'virtualInbound';
export const OUTBOUND_CAPTURE_PORT = 15001;
export const INBOUND_CAPTURE_PORT = 15006;

/** 0.0.0.0:15001, use_original_dst; unmatched traffic follows outboundTrafficPolicy. */
export function virtualOutboundListener(push: PushContext, proxy: Proxy): EnvoyJson {
  const registryOnly = sidecarScopeFor(push, proxy).outboundTrafficPolicy === 'REGISTRY_ONLY';
  // ALLOW_ANY: PassthroughCluster, or the Sidecar's egressProxy cluster when it names one.
  const cluster = registryOnly ? BLACKHOLE_CLUSTER : allowAnyCluster(push, proxy, PASSTHROUGH_CLUSTER);
  return transparent(proxy, {
    name: VIRTUAL_OUTBOUND,
    address: socketAddress('0.0.0.0', OUTBOUND_CAPTURE_PORT),
    use_original_dst: true,
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ name: registryOnly ? 'virtualOutbound-blackhole' : 'virtualOutbound-catchall-tcp', filters: [tcpProxy(cluster, cluster, push.mesh)] }],
  });
}

/** 0.0.0.0:15006 with chains per workload port (by destination_port) plus a passthrough chain. */
export function virtualInboundListener(push: PushContext, proxy: Proxy): EnvoyJson {
  const chains: EnvoyJson[] = [];
  // Sidecar ingress listeners with captureMode NONE get a bound listener instead (none.ts).
  for (const { target: t } of inboundPortsFor(push, proxy).filter((p) => !p.bound)) {
    chains.push(...inboundFilterChains(push, proxy, t, { matchPort: true, statAddress: '0.0.0.0' }));
  }
  chains.push({ name: 'InboundPassthroughFilterChain', filters: [tcpProxy(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, push.mesh)] });
  return transparent(proxy, {
    name: VIRTUAL_INBOUND,
    address: socketAddress('0.0.0.0', INBOUND_CAPTURE_PORT),
    traffic_direction: 'INBOUND',
    listener_filters: [originalDst(), tlsInspector()],
    continue_on_listener_filters_timeout: true,
    filter_chains: chains,
  });
}

/** TPROXY keeps the original destination on the socket, so Envoy needs IP_TRANSPARENT (as Istio sets). */
function transparent(proxy: Proxy, listener: EnvoyJson): EnvoyJson {
  if (interceptionMode(proxy) === 'TPROXY') listener.transparent = true;
  return listener;
}
