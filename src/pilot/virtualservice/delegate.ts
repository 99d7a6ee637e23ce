/**
 * VirtualService delegation (Istio's mergeVirtualServicesIfNeeded): a root VirtualService's HTTP
 * route may say `delegate: {name, namespace}` instead of routing; the delegate's HTTP routes then
 * take its place, each one's matches narrowed by the root route's matches. Only one level is
 * followed (Istio: a delegate that delegates again is ignored). A delegate route whose match is
 * not inside any of the root route's matches conflicts and is dropped, as Istio documents.
 */
import type { Config } from '../../api/types.ts';
import { exportedTo } from '../visibility.ts';
import type { HTTPMatchRequest, HTTPRoute, StringMatch, VirtualServiceSpec } from '../../api/networking.ts';

/** Finds a delegate by name/namespace among resolved VirtualServices. */
export type DelegateLookup = (name: string, namespace: string) => Config<VirtualServiceSpec> | undefined;

/**
 * The root's HTTP routes with every `delegate` route replaced by the delegate's merged routes.
 * A delegate that does not exist, has hosts (so is a root itself) or is not exported to the
 * root's namespace contributes nothing, so the root route is dropped.
 */
export function mergeDelegates(root: Config<VirtualServiceSpec>, lookup: DelegateLookup): HTTPRoute[] {
  const out: HTTPRoute[] = [];
  for (const r of root.spec.http ?? []) {
    if (!r.delegate) {
      out.push(r);
      continue;
    }
    const ns = r.delegate.namespace || root.metadata.namespace;
    const d = lookup(r.delegate.name, ns);
    if (!d || (d.spec.hosts ?? []).length > 0) continue;
    if (!exportedTo(d.spec.exportTo, d.metadata.namespace, root.metadata.namespace)) continue;
    for (const leaf of d.spec.http ?? []) {
      if (leaf.delegate) continue; // one level only
      const merged = mergeHTTPRoute(r, leaf);
      if (merged) out.push(merged);
    }
  }
  return out;
}

/** Root fields fill in what the delegate leaves unset; matches are intersected. */
export function mergeHTTPRoute(root: HTTPRoute, leaf: HTTPRoute): HTTPRoute | undefined {
  const match = mergeMatches(root.match ?? [], leaf.match ?? []);
  if (match === undefined) return undefined;
  const out: HTTPRoute = { ...leaf, match: match.length > 0 ? match : undefined };
  out.name = leaf.name ? (root.name ? `${root.name}-${leaf.name}` : leaf.name) : root.name;
  for (const k of ['rewrite', 'timeout', 'retries', 'fault', 'mirror', 'mirrorPercent', 'mirror_percent', 'mirrorPercentage', 'mirrors', 'corsPolicy', 'headers'] as const) {
    if (out[k] === undefined && root[k] !== undefined) (out as Record<string, unknown>)[k] = root[k];
  }
  delete out.delegate;
  return out;
}

/** Every leaf match must fit inside at least one root match; undefined means conflict. */
export function mergeMatches(root: HTTPMatchRequest[], leaf: HTTPMatchRequest[]): HTTPMatchRequest[] | undefined {
  if (root.length === 0) return leaf;
  if (leaf.length === 0) return root;
  const out: HTTPMatchRequest[] = [];
  for (const l of leaf) {
    let found = false;
    for (const r of root) {
      if (hasConflict(r, l)) continue;
      out.push(mergeMatch(r, l));
      found = true;
    }
    if (!found) return undefined;
  }
  return out.length > 0 ? out : undefined;
}

function mergeMatch(root: HTTPMatchRequest, leaf: HTTPMatchRequest): HTTPMatchRequest {
  const out: HTTPMatchRequest = { ...leaf };
  out.name = leaf.name ? (root.name ? `${root.name}-${leaf.name}` : leaf.name) : root.name;
  out.uri ??= root.uri;
  out.scheme ??= root.scheme;
  out.method ??= root.method;
  out.authority ??= root.authority;
  out.headers = mergeMaps(root.headers, leaf.headers);
  out.withoutHeaders = mergeMaps(root.withoutHeaders, leaf.withoutHeaders);
  out.queryParams = mergeMaps(root.queryParams, leaf.queryParams);
  out.sourceLabels = mergeMaps(root.sourceLabels, leaf.sourceLabels);
  if (!out.port) out.port = root.port;
  if (!out.sourceNamespace) out.sourceNamespace = root.sourceNamespace;
  if (!out.gateways || out.gateways.length === 0) out.gateways = root.gateways;
  if (!out.statPrefix) out.statPrefix = root.statPrefix;
  for (const k of Object.keys(out) as Array<keyof HTTPMatchRequest>) if (out[k] === undefined) delete out[k];
  return out;
}

function mergeMaps<T>(a: Record<string, T> | undefined, b: Record<string, T> | undefined): Record<string, T> | undefined {
  if (!a && !b) return undefined;
  return { ...(a ?? {}), ...(b ?? {}) };
}

/** Istio's hasConflict: the leaf must be a narrowing of the root on every field. */
export function hasConflict(root: HTTPMatchRequest, leaf: HTTPMatchRequest): boolean {
  const pairs: Array<[StringMatch | undefined, StringMatch | undefined]> = [
    [root.uri, leaf.uri],
    [root.scheme, leaf.scheme],
    [root.method, leaf.method],
    [root.authority, leaf.authority],
  ];
  for (const [k, v] of Object.entries(leaf.headers ?? {})) pairs.push([root.headers?.[k], v]);
  for (const [k, v] of Object.entries(leaf.withoutHeaders ?? {})) pairs.push([root.withoutHeaders?.[k], v]);
  for (const [k, v] of Object.entries(leaf.queryParams ?? {})) pairs.push([root.queryParams?.[k], v]);
  if (pairs.some(([r, l]) => stringMatchConflict(r, l))) return true;
  if (!!root.ignoreUriCase !== !!leaf.ignoreUriCase) return true;
  if (root.port && leaf.port && root.port !== leaf.port) return true;
  if (root.sourceNamespace && leaf.sourceNamespace !== root.sourceNamespace) return true;
  for (const [k, v] of Object.entries(leaf.sourceLabels ?? {})) {
    if (root.sourceLabels && k in root.sourceLabels && root.sourceLabels[k] !== v) return true;
  }
  if (root.gateways?.length && leaf.gateways?.length) {
    if (leaf.gateways.some((g) => !root.gateways!.includes(g))) return true;
  }
  return false;
}

/** True unless `leaf` matches a subset of what `root` matches (or either is unset). */
export function stringMatchConflict(root: StringMatch | undefined, leaf: StringMatch | undefined): boolean {
  if (!root || !leaf) return false;
  if (root.regex && (leaf.regex || leaf.prefix || leaf.exact)) return true;
  if (leaf.regex && (root.regex || root.prefix || root.exact)) return true;
  if (root.exact) return leaf.prefix !== undefined && leaf.prefix !== '' ? true : leaf.exact !== root.exact;
  if (root.prefix) {
    if (leaf.prefix) return !leaf.prefix.startsWith(root.prefix);
    if (leaf.exact) return !leaf.exact.startsWith(root.prefix);
  }
  return true;
}
