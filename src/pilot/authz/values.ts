/**
 * Istio's authorization values as Envoy matchers. A value may be exact, `prefix*`, `*suffix` or
 * `*` (present); principals carry the `spiffe://` scheme Istio prepends, namespaces match inside
 * the principal (`.../ns/<ns>/...`), and header values match one element of a comma-separated
 * list, as Istio generates them.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { PATH_MATCH } from '../../xds/type_urls.ts';

/** RE2-safe literal. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function regex(r: string): EnvoyJson {
  return { safe_regex: { regex: r } };
}

/** type.matcher.v3.StringMatcher for a plain value; `*` alone matches any non-empty value. */
export function stringMatcher(v: string, ignoreCase = false): EnvoyJson {
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (v === '*') return regex('.+');
  if (v.startsWith('*')) return { suffix: v.slice(1), ...ic };
  if (v.endsWith('*')) return { prefix: v.slice(0, -1), ...ic };
  return { exact: v, ...ic };
}

/** A peer principal (`cluster.local/ns/x/sa/y`) against the certificate's URI SAN. */
export function principalMatcher(v: string): EnvoyJson {
  if (v === '*') return regex('.+');
  if (v.startsWith('*')) return regex(`spiffe://.*${escapeRegex(v.slice(1))}`);
  if (v.endsWith('*')) return { prefix: `spiffe://${v.slice(0, -1)}` };
  return { exact: `spiffe://${v}` };
}

/** A namespace, matched inside the peer principal. */
export function namespaceMatcher(v: string): EnvoyJson {
  const parts = v.split('*').map(escapeRegex);
  return regex(`.*/ns/${parts.join('.*')}/.*`);
}

/** A trust domain, matched as the peer principal's authority; `*` stands for any characters in it. */
export function trustDomainMatcher(v: string): EnvoyJson {
  return regex(`spiffe://${v.split('*').map(escapeRegex).join('[^/]*')}/.*`);
}

/** A service account (`ns/sa`, or `sa` in the policy's namespace), any trust domain. */
export function serviceAccountMatcher(v: string, policyNamespace: string): EnvoyJson {
  const [ns, sa] = v.includes('/') ? v.split('/', 2) : [policyNamespace, v];
  return regex(`spiffe://[^/]+/ns/${escapeRegex(ns!)}/sa/${escapeRegex(sa!)}`);
}

/**
 * A request header condition. Several headers of one name reach the RBAC filter joined with
 * commas, so each value is matched as one element of that list; `*` means the header is present.
 */
export function headerMatcher(name: string, v: string): EnvoyJson {
  if (v === '*') return { name, present_match: true };
  let r: string;
  if (v.startsWith('*')) r = `.*${escapeRegex(v.slice(1))}`;
  else if (v.endsWith('*')) r = `${escapeRegex(v.slice(0, -1))}.*`;
  else r = escapeRegex(v);
  return { name, string_match: regex(`^${r}$|^${r},.*|.*,${r},.*|.*,${r}$`) };
}

/** operation.hosts against :authority, case-insensitively. */
export function hostMatcher(v: string): EnvoyJson {
  if (v === '*') return { name: ':authority', present_match: true };
  return { name: ':authority', string_match: stringMatcher(v, true) };
}

/** CidrRange from `1.2.3.4` or `1.2.0.0/16`. */
export function cidr(v: string): EnvoyJson {
  const [ip, len] = v.split('/');
  return { address_prefix: ip, prefix_len: len !== undefined ? Number(len) : ip!.includes(':') ? 128 : 32 };
}

/**
 * operation.paths: exact, `prefix*`, `*suffix`, `*`, or a URI template with `{*}` (exactly one
 * segment) and `{**}` (one or more segments, last), which Envoy's uri_template matcher evaluates
 * (its syntax writes them `*` and `**`).
 */
export function pathPermission(v: string): EnvoyJson {
  if (v.includes('{*}') || v.includes('{**}')) {
    return { uri_template: { name: 'uri-template', typed_config: { '@type': PATH_MATCH.URI_TEMPLATE, path_template: v.replaceAll('{**}', '**').replaceAll('{*}', '*') } } };
  }
  return { url_path: { path: stringMatcher(v) } };
}
