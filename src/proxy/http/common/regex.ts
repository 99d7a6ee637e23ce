/**
 * The proxy's one regex compiler: Envoy's RegexMatcher (safe_regex, google_re2) and RegexMatchAndSubstitute
 * (regex_rewrite), compiled once at config time and executed only by RE2 (re2js), whose run time
 * is linear in the input. V8's backtracking RegExp is never used on a config pattern: `(a+)+b`
 * against 26 characters would stall the event loop for every connection. The single exception is
 * a pattern with no metacharacter at all, which is a plain string comparison (trivially linear).
 *
 * A pattern RE2 rejects (back-references, look-around, ...) throws TsmeshError(INVALID_REGEX)
 * naming the config field, so the resource carrying it is NACKed, as Envoy does.
 */
import type { RE2JS } from 're2js';
import { lazyModule } from '../../../common/lazy_module.ts';
import { ERR, TsmeshError } from '../../../api/errors.ts';
import type { EnvoyJson } from '../../../xds/types.ts';

/** RE2, loaded with the first pattern: most proxies have none. */
const re2js = lazyModule<typeof import('re2js')>('re2js');

export interface CompiledRegex {
  readonly pattern: string;
  /** Full-string match, as Envoy's safe_regex matchers do. */
  matches(s: string): boolean;
}

/** A compiled RegexMatchAndSubstitute: the rewrite applied to a string. */
export type RegexRewrite = (s: string) => string;

/** No RE2 metacharacter: the pattern matches exactly itself. */
const LITERAL = /^[^\\.+*?()|[\]{}^$]*$/;

/**
 * Compiles an Envoy RegexMatcher ({regex}) or a bare pattern. `path` names the config field in the
 * error (e.g. "routes[2].match.safe_regex").
 */
export function compileSafeRegex(m: EnvoyJson | string, path: string, opts: { ignoreCase?: boolean } = {}): CompiledRegex {
  const re = compileRe2(m, path, opts.ignoreCase === true);
  const pattern = re.pattern();
  const literal = !opts.ignoreCase && LITERAL.test(pattern);
  return {
    pattern,
    matches: literal ? (s) => s === pattern : (s) => re.matches(s),
  };
}

/**
 * Compiles a RegexMatchAndSubstitute ({pattern: {regex}, substitution}): every leftmost,
 * non-overlapping match is replaced, the substitution using RE2's \\0-\\9 and \\\\. A substitution
 * naming a group the pattern does not have cannot be applied, so it is rejected here.
 */
export function compileRegexRewrite(rr: EnvoyJson, path: string): RegexRewrite {
  const re = compileRe2(rr?.pattern, `${path}.pattern`, false);
  const parts = parseSubstitution(String(rr.substitution ?? ''), re.groupCount(), `${path}.substitution`);
  return (s) => replaceAll(re, s, parts);
}

function compileRe2(m: EnvoyJson | string | undefined, path: string, ignoreCase: boolean): RE2JS {
  const pattern = typeof m === 'string' ? m : m?.regex;
  if (typeof pattern !== 'string') throw new TsmeshError(ERR.INVALID_REGEX, `${path}.regex: required`);
  const { RE2JS } = re2js();
  try {
    return RE2JS.compile(pattern, ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (e) {
    throw new TsmeshError(ERR.INVALID_REGEX, `${path}: invalid RE2 regex ${JSON.stringify(pattern)}: ${(e as Error).message}`);
  }
}

/** A substitution as literal text and group references. */
type Part = string | number;

/** RE2's rewrite syntax: \0..\9 are groups, \\ a backslash; anything else after \ is an error. */
function parseSubstitution(sub: string, groups: number, path: string): Part[] {
  const parts: Part[] = [];
  let lit = '';
  for (let i = 0; i < sub.length; i++) {
    const c = sub[i];
    if (c !== '\\') {
      lit += c;
      continue;
    }
    const n = sub[++i];
    if (n === '\\') {
      lit += '\\';
    } else if (n !== undefined && n >= '0' && n <= '9') {
      const g = n.charCodeAt(0) - 48;
      if (g > groups) throw new TsmeshError(ERR.INVALID_REGEX, `${path}: substitution uses \\${g} but the pattern has ${groups} capture group(s)`);
      if (lit) parts.push(lit), (lit = '');
      parts.push(g);
    } else {
      throw new TsmeshError(ERR.INVALID_REGEX, `${path}: invalid escape in substitution ${JSON.stringify(sub)} (use \\0-\\9 or \\\\)`);
    }
  }
  if (lit) parts.push(lit);
  return parts;
}

function replaceAll(re: RE2JS, s: string, parts: Part[]): string {
  const m = re.matcher(s);
  let out = '';
  let last = 0;
  while (m.find()) {
    out += s.slice(last, m.start());
    for (const p of parts) out += typeof p === 'string' ? p : (m.group(p) ?? '');
    last = m.end();
  }
  return out + s.slice(last);
}
