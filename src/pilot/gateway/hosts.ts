/**
 * Gateway server hosts (`[namespace/]host`): which VirtualServices may claim them, and the host a
 * server host and a VirtualService host share (Istio's pickMatchingGatewayHosts).
 */
import { hostMatches } from '../host.ts';

/** One server host, split. `namespace` is "*" (any), or a namespace name ("." already resolved). */
export interface ServerHost {
  namespace: string;
  host: string;
}

/**
 * `ns/host` → { ns, host }; `./host` is the Gateway's own namespace; a bare host or `*\/host`
 * admits VirtualServices from every namespace.
 */
export function parseServerHost(h: string, gatewayNamespace: string): ServerHost {
  const i = h.indexOf('/');
  if (i < 0) return { namespace: '*', host: h };
  const ns = h.slice(0, i);
  return { namespace: ns === '.' ? gatewayNamespace : ns, host: h.slice(i + 1) };
}

/** True if a VirtualService (or Service) living in `namespace` may bind to this server host. */
export function namespaceAdmits(sh: ServerHost, namespace: string): boolean {
  return sh.namespace === '*' || sh.namespace === namespace;
}

/**
 * The host both a server host and a VirtualService host accept, or undefined: the more specific
 * of the two (server `*.example.com` + VS `a.example.com` → `a.example.com`, and vice versa).
 */
export function intersectHosts(serverHost: string, vsHost: string): string | undefined {
  if (hostMatches(serverHost, vsHost)) return vsHost;
  if (hostMatches(vsHost, serverHost)) return serverHost;
  return undefined;
}

/** SNI names for a filter chain: the server's hosts without namespace; `*` means "any SNI". */
export function sniHosts(hosts: ServerHost[]): string[] {
  if (hosts.some((h) => h.host === '*')) return [];
  return [...new Set(hosts.map((h) => h.host))].sort();
}
