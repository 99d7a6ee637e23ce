/**
 * Virtual host names and domains (Istio's generateVirtualHostDomains / GenerateAltVirtualHosts),
 * and the catch-all virtual host the outbound traffic policy asks for.
 */
import { isIP } from 'node:net';
import type { Service } from '../../registry/model.ts';
import type { EnvoyJson } from '../../xds/types.ts';
import { PASSTHROUGH_CLUSTER } from '../cluster/name.ts';

/** `host:port`, bracketing IPv6 literals. */
export function domainWithPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Other names a client may use for a service, relative to the calling proxy's DNS domain
 * (`<ns>.svc.cluster.local`): the short name only from the same namespace (that is where the
 * resolver's search path makes it work), `name.ns` and `name.ns.svc` from anywhere.
 */
export function altHosts(hostname: string, proxyDomain: string): string[] {
  const ip = proxyDomain.indexOf('.svc.');
  if (ip >= 0) {
    const clusterSuffix = proxyDomain.slice(ip + 1); // svc.cluster.local
    if (!hostname.endsWith(`.${clusterSuffix}`)) return [];
    const ih = hostname.indexOf('.svc.');
    const dot = hostname.indexOf('.');
    if (ih <= 0 || dot + 1 > ih) return [];
    const nameNs = hostname.slice(0, ih);
    const out = [`${nameNs}.svc`, nameNs];
    if (hostname.slice(dot + 1) === proxyDomain) out.unshift(hostname.slice(0, dot));
    return out;
  }
  // Outside Kubernetes: drop the domain the service shares with the proxy.
  if (proxyDomain && hostname.endsWith(`.${proxyDomain}`)) return [hostname.slice(0, -proxyDomain.length - 1)];
  return [];
}

/** The cluster VIPs Envoy can see in a Host header: plain IPs, not CIDRs or the any-address. */
function vips(service: Service): string[] {
  return service.addresses.filter((a) => isIP(a) !== 0 && a !== '0.0.0.0' && a !== '::');
}

/**
 * Domains for one service on one port: FQDN, alternative names and VIPs, each also as
 * `name:port` when `withPort` (Envoy matches the Host header including any port).
 */
export function serviceDomains(service: Service, port: number, proxyDomain: string, withPort: boolean): string[] {
  const names = [service.hostname, ...altHosts(service.hostname, proxyDomain), ...vips(service)];
  const out: string[] = [];
  for (const n of names) {
    out.push(n);
    if (withPort) out.push(domainWithPort(n, port));
  }
  return out;
}

/** Domains for a VirtualService host that names no service. */
export function hostDomains(host: string, port: number, withPort: boolean): string[] {
  return withPort && host !== '*' ? [host, domainWithPort(host, port)] : [host];
}

export const ALLOW_ANY = 'allow_any';
export const BLOCK_ALL = 'block_all';

/**
 * Istio's BuildCatchAllVirtualHost: ALLOW_ANY sends unknown hosts to PassthroughCluster with no
 * timeout; REGISTRY_ONLY answers them with a 502 directly. `passthrough` names another cluster
 * for ALLOW_ANY (the NONE-mode HTTP proxy listener's dynamic forward proxy).
 */
export function catchAllVirtualHost(mode: 'ALLOW_ANY' | 'REGISTRY_ONLY', passthrough: string = PASSTHROUGH_CLUSTER): EnvoyJson {
  if (mode === 'ALLOW_ANY') {
    return {
      name: ALLOW_ANY,
      domains: ['*'],
      routes: [{ name: ALLOW_ANY, match: { prefix: '/' }, route: { cluster: passthrough, timeout: '0s', max_grpc_timeout: '0s' } }],
      include_request_attempt_count: true,
    };
  }
  return {
    name: BLOCK_ALL,
    domains: ['*'],
    routes: [{ name: BLOCK_ALL, match: { prefix: '/' }, direct_response: { status: 502 } }],
    include_request_attempt_count: true,
  };
}

/**
 * Envoy rejects a RouteConfiguration in which two virtual hosts share a domain: earlier virtual
 * hosts keep theirs, later ones lose the duplicates, and a virtual host left with none is dropped.
 */
export function dedupeDomains(vhosts: EnvoyJson[]): EnvoyJson[] {
  const seen = new Set<string>();
  const out: EnvoyJson[] = [];
  for (const vh of vhosts) {
    const domains = [...new Set<string>(vh.domains)].filter((d) => !seen.has(d.toLowerCase())).sort();
    if (domains.length === 0) continue;
    for (const d of domains) seen.add(d.toLowerCase());
    out.push({ ...vh, domains });
  }
  return out;
}
