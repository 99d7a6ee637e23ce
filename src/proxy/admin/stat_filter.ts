/**
 * /stats?filter=: the stat names a regex finds (a partial match, as Envoy's filter). Compiled with
 * RE2 like every other regex the proxy takes from outside, so a hostile pattern cannot make the
 * admin port backtrack for ever; a pattern RE2 refuses (e.g. lookahead) is a 400.
 */
import { compileSafeRegex } from '../http/common/regex.ts';

export interface StatFilter {
  test(name: string): boolean;
}

/** Throws (TSMESH_ERR_INVALID_REGEX) when `pattern` is not a valid RE2 regex. */
export function statFilter(pattern: string): StatFilter {
  compileSafeRegex(pattern, 'filter');
  // Partial match: RE2 matches are full-string, so the pattern is allowed anything around it.
  const re = compileSafeRegex(`(?s:.*)(?:${pattern})(?s:.*)`, 'filter');
  return { test: (name) => re.matches(name) };
}
