/** Host names as Istio's analyzers compare them: short names made FQDN in a namespace, wildcard matching. */

/** `reviews` in `default` → `reviews.default.svc.cluster.local`: the validator's one rule. */
export { fqdnOf as fqdn } from '../../validation/cross.ts';

/** Whether two hosts can name the same thing (`*.bar.com` matches `foo.bar.com` and `*.foo.bar.com`). */
export function hostsOverlap(a: string, b: string): boolean {
  if (a === b || a === '*' || b === '*') return true;
  if (a.startsWith('*')) {
    if (b.endsWith(a.slice(1))) return true;
  }
  if (b.startsWith('*')) {
    if (a.endsWith(b.slice(1))) return true;
  }
  return false;
}

/** Whether `host` is within `pattern` (exact or `pattern` a wildcard covering it). */
export function hostMatches(host: string, pattern: string): boolean {
  if (pattern === '*' || host === pattern) return true;
  return pattern.startsWith('*') && host.endsWith(pattern.slice(1));
}

/** The namespaces a resource is exported to: `*` for all (the default), `.` as its own. */
export function exportScopes(exportTo: unknown, namespace: string): string[] {
  if (!Array.isArray(exportTo) || exportTo.length === 0 || exportTo.includes('*')) return ['*'];
  return [...new Set(exportTo.map((e) => (e === '.' ? namespace : String(e))))];
}

export function visibleIn(exportTo: unknown, ownNamespace: string, namespace: string): boolean {
  const scopes = exportScopes(exportTo, ownNamespace);
  return scopes.includes('*') || scopes.includes(namespace);
}
