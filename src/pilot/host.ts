/**
 * Istio hostname rules: short names in config are resolved against the config's namespace, and
 * wildcard hosts (`*`, `*.example.com`) match by suffix. Shared by every visibility decision.
 */

/** Kubernetes cluster DNS suffix (Istio's default domainSuffix). */
export const DOMAIN_SUFFIX = 'cluster.local';

/**
 * Istio's ResolveShortnameToFQDN: `reviews` in namespace `default` becomes
 * `reviews.default.svc.cluster.local`; names with a dot and wildcards stay as written.
 */
export function resolveHost(host: string, namespace: string, domainSuffix = DOMAIN_SUFFIX): string {
  if (host === '*' || host.includes('.')) return host;
  if (host.startsWith('*')) return host;
  return `${host}.${namespace}.svc.${domainSuffix}`;
}

/**
 * Candidate FQDNs for a name a client typed (used for gRPC listener names like `echo:7070` or
 * `echo.ns:7070`): the name itself, plus the Kubernetes search-path expansions.
 */
export function expandClientHost(host: string, proxyNamespace: string, domainSuffix = DOMAIN_SUFFIX): string[] {
  const parts = host.split('.');
  const out = [host];
  if (parts.length === 1) out.unshift(`${host}.${proxyNamespace}.svc.${domainSuffix}`);
  else if (parts.length === 2) out.unshift(`${host}.svc.${domainSuffix}`);
  else if (parts.length === 3 && parts[2] === 'svc') out.unshift(`${host}.${domainSuffix}`);
  return out;
}

/** True if `pattern` (possibly a wildcard) matches the concrete or wildcard `host`. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern === host) return true;
  if (pattern.startsWith('*')) {
    const suffix = pattern.slice(1); // ".example.com"
    if (host.startsWith('*')) return host.slice(1).endsWith(suffix);
    return host.endsWith(suffix);
  }
  return false;
}

/**
 * Picks the most specific pattern matching `host`: an exact name beats any wildcard, a longer
 * wildcard beats a shorter one (Istio's MostSpecificHostMatch).
 */
export function mostSpecificMatch(host: string, patterns: Iterable<string>): string | undefined {
  let best: string | undefined;
  for (const p of patterns) {
    if (p === host) return p;
    if (!hostMatches(p, host)) continue;
    if (best === undefined || p.length > best.length) best = p;
  }
  return best;
}

/** Namespace of a Kubernetes service FQDN (`name.ns.svc.<suffix>`), if it is one. */
export function namespaceOfFqdn(host: string): string | undefined {
  const parts = host.split('.');
  return parts.length >= 3 && parts[2] === 'svc' ? parts[1] : undefined;
}
