/**
 * The ADS server's ShapeKey for pilot's generators (src/xds/server/resources.ts): which proxies
 * pilot gives identical output for a type, so they share one generation per push.
 */
import type { ShapeKey } from '../xds/server/resources.ts';
import { TYPE } from '../xds/types.ts';
import type { Proxy, PushContext } from './types.ts';

/** Every endpoint address of a push, computed once per PushContext. */
const endpointAddresses = new WeakMap<PushContext, Set<string>>();
function addressesOf(push: PushContext): Set<string> {
  let set = endpointAddresses.get(push);
  if (!set) {
    set = new Set();
    for (const eps of push.endpoints.values()) for (const e of eps) set.add(e.address);
    endpointAddresses.set(push, set);
  }
  return set;
}

/**
 * Which proxies receive identical output for a type, following what pilot's
 * generators read: Route and Endpoint output depends on namespace, labels and locality, so
 * sidecars of one namespace/labels share a single EDS and RDS generation. Listener and Cluster
 * output also has an inbound side, built from the workloads at the proxy's own IPs, and in
 * NONE interception mode listeners bind the pod IP itself. So a sidecar's IPs are part of its
 * LDS/CDS shape only where they matter: all of them in NONE mode, otherwise just those that are
 * endpoint addresses in the push. Keying on every IP made each sidecar its own shape, and a
 * thousand-service CDS+LDS (~0.3 s) was regenerated once per connected proxy on every push.
 * RDS `http_proxy` also depends on HTTP_PROXY_PORT and the interception mode (its catch-all).
 * Secrets are per proxy.
 */
export const proxyShapeKey: ShapeKey<PushContext, Proxy> = (p, typeUrl, push) => {
  if (typeUrl === TYPE.SECRET) return p.id;
  const labels = Object.keys(p.labels).sort().map((k) => `${k}=${p.labels[k]}`).join(',');
  const loc = `${p.locality.region ?? ''}/${p.locality.zone ?? ''}/${p.locality.subzone ?? ''}`;
  const base = [p.type, p.generator ?? '', p.namespace, p.dnsDomain, labels, loc, p.serviceAccount ?? ''];
  if (typeUrl === TYPE.LISTENER || typeUrl === TYPE.CLUSTER) {
    const narrow = push && p.type === 'sidecar' && !p.generator && (p.interceptionMode ?? 'REDIRECT') !== 'NONE';
    const known = narrow ? addressesOf(push) : undefined;
    const ips = known ? p.ipAddresses.filter((ip) => known.has(ip)) : p.ipAddresses;
    base.push([...ips].sort().join(','), p.interceptionMode ?? '', p.appAddress ?? '', String(p.httpProxyPort ?? ''));
  } else if (typeUrl === TYPE.ROUTE && p.httpProxyPort !== undefined) {
    // The `http_proxy` route exists only with HTTP_PROXY_PORT, and its catch-all depends on the
    // interception mode (NONE forwards unknown hosts by name).
    base.push(p.interceptionMode ?? '', String(p.httpProxyPort));
  }
  return base.join('|');
};

