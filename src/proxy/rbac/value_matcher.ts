/**
 * Envoy's type.matcher.v3.MetadataMatcher and ValueMatcher, compiled once into predicates over a
 * stream's dynamic metadata (src/proxy/http/common/dynamic_metadata.ts). Values are JSON as
 * filters store them: a protobuf Struct's kinds map to null, number, string, boolean, array
 * (ListValue) and object (Struct); a missing value is "kind not set", which only
 * present_match: false matches, as in Envoy. Istio's translation leans on list_match and
 * or_match: JWT claims may be lists ("groups") or scalars ("iss"), and it emits both forms.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { compileStringMatcher } from '../http/common/string_matcher.ts';

export type ValuePredicate = (v: unknown) => boolean;
export type MetadataPredicate = (metadata: ReadonlyMap<string, Record<string, unknown>> | undefined) => boolean;

/** Compiles a ValueMatcher; `path` names the field in errors (the config is NACKed). */
export function compileValueMatcher(m: EnvoyJson | undefined, path: string): ValuePredicate {
  if (!m || typeof m !== 'object') throw new Error(`${path}: ValueMatcher is required`);
  if (m.null_match !== undefined) return (v) => v === null;
  if (m.double_match !== undefined) {
    const d = m.double_match;
    if (d.exact !== undefined) {
      const want = Number(d.exact);
      return (v) => typeof v === 'number' && v === want;
    }
    if (d.range !== undefined) {
      const start = Number(d.range.start ?? 0);
      const end = Number(d.range.end ?? 0);
      return (v) => typeof v === 'number' && v >= start && v < end;
    }
    throw new Error(`${path}.double_match: needs one of range, exact`);
  }
  if (m.string_match !== undefined) {
    const s = compileStringMatcher(m.string_match, `${path}.string_match`);
    return (v) => typeof v === 'string' && s(v);
  }
  if (m.bool_match !== undefined) {
    const want = m.bool_match === true;
    return (v) => typeof v === 'boolean' && v === want;
  }
  if (m.present_match !== undefined) {
    const want = m.present_match === true;
    return (v) => (v !== undefined) === want;
  }
  if (m.list_match !== undefined) {
    if (m.list_match.one_of === undefined) throw new Error(`${path}.list_match: needs one_of`);
    const one = compileValueMatcher(m.list_match.one_of, `${path}.list_match.one_of`);
    return (v) => Array.isArray(v) && v.some(one);
  }
  if (m.or_match !== undefined) {
    const list: EnvoyJson[] = m.or_match.value_matchers ?? [];
    if (list.length < 2) throw new Error(`${path}.or_match.value_matchers: needs at least 2 matchers`);
    const ors = list.map((x, i) => compileValueMatcher(x, `${path}.or_match.value_matchers[${i}]`));
    return (v) => ors.some((p) => p(v));
  }
  throw new Error(`${path}: ValueMatcher needs one of null_match, double_match, string_match, bool_match, present_match, list_match, or_match (got ${Object.keys(m).join(', ') || 'none'})`);
}

/** Compiles a MetadataMatcher: filter (namespace), path of keys, value, invert. */
export function compileMetadataMatcher(m: EnvoyJson, path: string): MetadataPredicate {
  const ns = String(m.filter ?? '');
  if (!ns) throw new Error(`${path}.filter: required`);
  const segments: EnvoyJson[] = m.path ?? [];
  if (segments.length === 0) throw new Error(`${path}.path: at least one segment is required`);
  const keys = segments.map((s, i) => {
    if (typeof s?.key !== 'string' || s.key === '') throw new Error(`${path}.path[${i}].key: required`);
    return s.key as string;
  });
  const value = compileValueMatcher(m.value, `${path}.value`);
  const invert = m.invert === true;
  return (metadata) => {
    let v: unknown = metadata?.get(ns);
    for (const k of keys) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        v = undefined;
        break;
      }
      v = (v as Record<string, unknown>)[k];
    }
    return value(v) !== invert;
  };
}
