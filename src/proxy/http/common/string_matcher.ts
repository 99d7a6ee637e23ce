/**
 * Envoy's type.matcher.v3.StringMatcher (exact, prefix, suffix, contains, safe_regex, with
 * ignore_case) compiled once into a predicate. Used by header/query matching, CORS origins and
 * the fault filter's header matchers.
 */
import type { EnvoyJson } from '../../../xds/types.ts';
import { compileSafeRegex } from './regex.ts';

export type StringPredicate = (value: string) => boolean;

/** `path` names the matcher's config field in errors (a bad regex NACKs the resource). */
export function compileStringMatcher(m: EnvoyJson, path = 'string_match'): StringPredicate {
  const ic = m.ignore_case === true;
  if (m.exact !== undefined) {
    const want = ic ? String(m.exact).toLowerCase() : String(m.exact);
    return ic ? (v) => v.toLowerCase() === want : (v) => v === want;
  }
  if (m.prefix !== undefined) {
    const want = ic ? String(m.prefix).toLowerCase() : String(m.prefix);
    return ic ? (v) => v.toLowerCase().startsWith(want) : (v) => v.startsWith(want);
  }
  if (m.suffix !== undefined) {
    const want = ic ? String(m.suffix).toLowerCase() : String(m.suffix);
    return ic ? (v) => v.toLowerCase().endsWith(want) : (v) => v.endsWith(want);
  }
  if (m.contains !== undefined) {
    const want = ic ? String(m.contains).toLowerCase() : String(m.contains);
    return ic ? (v) => v.toLowerCase().includes(want) : (v) => v.includes(want);
  }
  if (m.safe_regex !== undefined) {
    const re = compileSafeRegex(m.safe_regex, `${path}.safe_regex`, { ignoreCase: ic });
    return (v) => re.matches(v);
  }
  throw new Error(`StringMatcher needs one of exact, prefix, suffix, contains, safe_regex: ${JSON.stringify(m)}`);
}
