/**
 * What the HCM does to :path before any filter or route sees it (Envoy's
 * ConnectionManagerUtility::maybeNormalizePath), in Envoy's order:
 *  1. path_with_escaped_slashes_action: %2F/%5C (any case) are unescaped unless KEEP_UNCHANGED;
 *     when some were found, REJECT_REQUEST rejects and UNESCAPE_AND_REDIRECT redirects to the
 *     final path (after steps 2 and 3), UNESCAPE_AND_FORWARD carries on with it.
 *  2. normalize_path: RFC 3986 section 6 (syntax-based) normalization: percent-encoded unreserved
 *     characters are decoded, other escapes get upper-case hex, dot segments are removed
 *     (section 5.2.4). A path that cannot be normalized (control characters, bad escapes) is rejected.
 *  3. merge_slashes: adjacent slashes become one.
 * The query string is never touched. The result is also what goes upstream.
 */

export type EscapedSlashesAction = 'KEEP_UNCHANGED' | 'REJECT_REQUEST' | 'UNESCAPE_AND_REDIRECT' | 'UNESCAPE_AND_FORWARD';
export const ESCAPED_SLASHES_ACTIONS = new Set(['IMPLEMENTATION_SPECIFIC_DEFAULT', 'KEEP_UNCHANGED', 'REJECT_REQUEST', 'UNESCAPE_AND_REDIRECT', 'UNESCAPE_AND_FORWARD']);

export interface PathOptions {
  normalizePath: boolean;
  mergeSlashes: boolean;
  escapedSlashes: EscapedSlashesAction;
}

export type PathOutcome = { action: 'continue' | 'redirect'; path: string } | { action: 'reject' };

/** True when the options leave every path as it is (the common fast path). */
export function pathUntouched(o: PathOptions): boolean {
  return !o.normalizePath && !o.mergeSlashes && o.escapedSlashes === 'KEEP_UNCHANGED';
}

const ESCAPED_SLASH = /%(2f|5c)/gi;

export function normalizeRequestPath(full: string, o: PathOptions): PathOutcome {
  // Only origin-form paths are normalized ("*" for OPTIONS and CONNECT targets are not paths).
  if (!full.startsWith('/')) return { action: 'continue', path: full };
  const q = full.indexOf('?');
  let path = q < 0 ? full : full.slice(0, q);
  const query = q < 0 ? '' : full.slice(q);
  let action: 'continue' | 'redirect' = 'continue';
  if (o.escapedSlashes !== 'KEEP_UNCHANGED') {
    const unescaped = path.replace(ESCAPED_SLASH, (m) => (m[2] === '5' ? '\\' : '/'));
    if (unescaped !== path) {
      if (o.escapedSlashes === 'REJECT_REQUEST') return { action: 'reject' };
      if (o.escapedSlashes === 'UNESCAPE_AND_REDIRECT') action = 'redirect';
      path = unescaped;
    }
  }
  if (o.normalizePath) {
    const n = normalizeRfc3986(path);
    if (n === undefined) return { action: 'reject' };
    path = n;
  }
  if (o.mergeSlashes) path = path.replace(/\/{2,}/g, '/');
  return { action, path: path + query };
}

const HEX = /^[0-9A-Fa-f]{2}$/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** RFC 3986 section 6.2.2 on an origin-form path; undefined when the path is not valid. */
export function normalizeRfc3986(path: string): string | undefined {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    const code = c.charCodeAt(0);
    if (code <= 0x20 || code === 0x7f) return undefined;
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return undefined;
    const ch = String.fromCharCode(parseInt(hex, 16));
    // 6.2.2.2: decode what never needed encoding; keep the rest, hex upper-cased (6.2.2.1).
    out += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return removeDotSegments(out);
}

/** RFC 3986 section 5.2.4. */
export function removeDotSegments(input: string): string {
  const segs = input.split('/');
  const out: string[] = [];
  // segs[0] is '' for an absolute path; a trailing '.' or '..' leaves the path ending in '/'.
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i];
    const last = i === segs.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..') out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return '/' + out.join('/');
}
