/**
 * Envoy's RegexMatcher (safe_regex, google_re2) compiled once. The pattern is validated as RE2
 * (so what Envoy would reject, e.g. back-references, is rejected here too); matching uses V8's
 * RegExp when the pattern means the same there, which is much faster, else re2js.
 */
import { RE2JS } from 're2js';
import type { EnvoyJson } from '../../../xds/types.ts';

export interface CompiledRegex {
  /** Full-string match, as Envoy's safe_regex matchers do. */
  matches(s: string): boolean;
  /** Replaces every match; `substitution` uses RE2's \1 back-references. */
  replaceAll(s: string, substitution: string): string;
}

// Syntax RE2 accepts but V8 reads differently or rejects: named groups (?P<, inline flags,
// \z, \C, POSIX classes, \Q..\E. Such patterns stay on re2js.
const RE2_ONLY = /\(\?P<|\(\?[imsU-]+[):]|\\[zCQEpP]|\[\[:/;

export function compileRegex(m: EnvoyJson | string, ignoreCase = false): CompiledRegex {
  const pattern = typeof m === 'string' ? m : String(m?.regex ?? '');
  let re2: RE2JS;
  try {
    re2 = RE2JS.compile(pattern, ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (e) {
    throw new Error(`invalid RE2 regex ${JSON.stringify(pattern)}: ${(e as Error).message}`);
  }
  if (!RE2_ONLY.test(pattern)) {
    try {
      const full = new RegExp(`^(?:${pattern})$`, ignoreCase ? 'i' : '');
      const global = new RegExp(pattern, ignoreCase ? 'gi' : 'g');
      return {
        matches: (s) => full.test(s),
        replaceAll: (s, sub) => s.replace(global, toJsSubstitution(sub)),
      };
    } catch {
      // fall through to re2js
    }
  }
  return {
    matches: (s) => re2.matches(s),
    replaceAll: (s, sub) => re2.matcher(s).replaceAll(toJsSubstitution(sub)),
  };
}

/** RE2 substitution (\1) to JS replacement ($1), escaping literal $. */
function toJsSubstitution(sub: string): string {
  return sub.replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1');
}
