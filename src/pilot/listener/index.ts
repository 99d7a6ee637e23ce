/**
 * LDS for a proxy. Sidecars: per-port outbound listeners plus virtualOutbound / virtualInbound.
 * Routers (gateways) get nothing yet: Gateway translation will add its builder here, beside
 * these, selected by proxy.type.
 */
import type { NamedResource } from '../../xds/types.ts';
import type { Proxy, PushContext } from '../types.ts';
import { byName } from '../util.ts';
import { buildOutboundListeners } from './outbound.ts';
import { virtualInboundListener, virtualOutboundListener } from './virtual.ts';

export { VIRTUAL_INBOUND, VIRTUAL_OUTBOUND } from './virtual.ts';

/** Every listener for the proxy, sorted by name. */
export function buildListeners(push: PushContext, proxy: Proxy): NamedResource[] {
  if (proxy.type !== 'sidecar') return [];
  const listeners = [...buildOutboundListeners(push, proxy), virtualOutboundListener(push, proxy), virtualInboundListener(push, proxy)];
  return listeners.map((l) => ({ name: l.name as string, resource: l })).sort(byName);
}
