/**
 * Envoy's RouteMatch compiled into one predicate: path specifier (prefix, path, safe_regex,
 * path_separated_prefix; case_sensitive), headers (HeaderMatcher incl. legacy *_match fields,
 * present/range/invert, treat_missing_header_as_empty), query_parameters, grpc,
 * runtime_fraction and dynamic_metadata. Evaluated against the path with the query string
 * removed, as Envoy does.
 * Regexes compile once here, at config time, through ../common/regex.ts (RE2 semantics).
 */
import type { HeaderMap } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { compileSafeRegex } from '../common/regex.ts';
import { compileStringMatcher, type StringPredicate } from '../common/string_matcher.ts';
import { getJoined, isGrpcRequest } from '../common/header_utils.ts';
import { chance, runtimeFractionToProbability, type Random } from '../common/random.ts';
import { compileMetadataMatcher } from '../../rbac/value_matcher.ts';

/** What a route predicate sees: headers, path without query, and the parsed query (lazily). */
export interface MatchInput {
  headers: HeaderMap;
  path: string;
  query(): URLSearchParams;
  random: Random;
  /**
   * (additive) The stream's dynamic metadata (jwt_authn's verified payload), for
   * RouteMatch.dynamic_metadata. An input without it cannot match such a route (fail closed).
   */
  metadata?(): ReadonlyMap<string, Record<string, unknown>> | undefined;
}

export type RoutePredicate = (m: MatchInput) => boolean;

export function compileRouteMatch(match: EnvoyJson): RoutePredicate {
  const checks: RoutePredicate[] = [];
  const cs = match.case_sensitive !== false;
  if (match.prefix !== undefined) {
    const p = cs ? String(match.prefix) : String(match.prefix).toLowerCase();
    if (p !== '' && p !== '/') checks.push(cs ? (m) => m.path.startsWith(p) : (m) => m.path.toLowerCase().startsWith(p));
  } else if (match.path !== undefined) {
    const p = cs ? String(match.path) : String(match.path).toLowerCase();
    checks.push(cs ? (m) => m.path === p : (m) => m.path.toLowerCase() === p);
  } else if (match.safe_regex !== undefined) {
    const re = compileSafeRegex(match.safe_regex, 'match.safe_regex');
    checks.push((m) => re.matches(m.path));
  } else if (match.path_separated_prefix !== undefined) {
    const p = String(match.path_separated_prefix);
    if (p.endsWith('/') || p.includes('?') || p.includes('#')) throw new Error(`path_separated_prefix ${JSON.stringify(p)} may not end with "/" or contain ? or #`);
    const lp = cs ? p : p.toLowerCase();
    checks.push((m) => {
      const path = cs ? m.path : m.path.toLowerCase();
      return path.startsWith(lp) && (path.length === lp.length || path.charCodeAt(lp.length) === 47);
    });
  } else if (match.connect_matcher !== undefined) {
    checks.push((m) => m.headers.get(':method') === 'CONNECT');
  } else if (match.path_match_policy !== undefined) {
    throw new Error('route match path_match_policy (uri templates) is not supported');
  } else {
    throw new Error('route match needs one of prefix, path, safe_regex, path_separated_prefix');
  }
  // dynamic_metadata: Istio's request.auth.claims routes, on the payload jwt_authn verified.
  ((match.dynamic_metadata ?? []) as EnvoyJson[]).forEach((dm, i) => {
    const p = compileMetadataMatcher(dm, `match.dynamic_metadata[${i}]`);
    checks.push((m) => m.metadata !== undefined && p(m.metadata()));
  });
  for (const hm of match.headers ?? []) checks.push(compileHeaderMatcher(hm));
  for (const qm of match.query_parameters ?? []) checks.push(compileQueryMatcher(qm));
  if (match.grpc !== undefined) checks.push((m) => isGrpcRequest(m.headers));
  if (match.runtime_fraction !== undefined) {
    const p = runtimeFractionToProbability(match.runtime_fraction, 1);
    checks.push((m) => chance(p, m.random));
  }
  if (checks.length === 0) return () => true;
  if (checks.length === 1) return checks[0];
  return (m) => {
    for (let i = 0; i < checks.length; i++) if (!checks[i](m)) return false;
    return true;
  };
}

/** Envoy's HeaderMatcher; a repeated header is matched on its values joined with ",". */
export function compileHeaderMatcher(hm: EnvoyJson): RoutePredicate {
  const name = String(hm.name ?? '').toLowerCase();
  if (!name) throw new Error('header matcher without name');
  const invert = hm.invert_match === true;
  const missingAsEmpty = hm.treat_missing_header_as_empty === true;
  if (hm.present_match !== undefined) {
    const want = hm.present_match !== false;
    return (m) => (m.headers.has(name) === want) !== invert;
  }
  let value: StringPredicate;
  if (hm.string_match !== undefined) value = compileStringMatcher(hm.string_match);
  else if (hm.exact_match !== undefined) value = compileStringMatcher({ exact: hm.exact_match });
  else if (hm.prefix_match !== undefined) value = compileStringMatcher({ prefix: hm.prefix_match });
  else if (hm.suffix_match !== undefined) value = compileStringMatcher({ suffix: hm.suffix_match });
  else if (hm.contains_match !== undefined) value = compileStringMatcher({ contains: hm.contains_match });
  else if (hm.safe_regex_match !== undefined) value = compileStringMatcher({ safe_regex: hm.safe_regex_match });
  else if (hm.range_match !== undefined) {
    const start = Number(hm.range_match.start ?? 0);
    const end = Number(hm.range_match.end ?? 0);
    value = (v) => {
      if (!/^-?\d+$/.test(v)) return false;
      const n = Number(v);
      return n >= start && n < end;
    };
  } else {
    // No value matcher: Envoy treats it as a presence check.
    return (m) => m.headers.has(name) !== invert;
  }
  return (m) => {
    let v = getJoined(m.headers, name);
    if (v === undefined) {
      if (!missingAsEmpty) return false;
      v = '';
    }
    return value(v) !== invert;
  };
}

/** Envoy's QueryParameterMatcher: the first value of the named parameter. */
export function compileQueryMatcher(qm: EnvoyJson): RoutePredicate {
  const name = String(qm.name ?? '');
  if (!name) throw new Error('query parameter matcher without name');
  if (qm.string_match !== undefined) {
    const value = compileStringMatcher(qm.string_match);
    return (m) => {
      const v = m.query().get(name);
      return v !== null && value(v);
    };
  }
  // present_match (or nothing at all) checks presence only.
  return (m) => m.query().has(name);
}
