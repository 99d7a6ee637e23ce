/**
 * Envoy's RedirectAction and the path rewrites the router shares with it (prefix_rewrite,
 * regex_rewrite). A redirect builds the Location from the request's scheme, authority and path
 * with the configured swaps, as Envoy's newUri() does.
 */
import type { EnvoyJson } from '../../../xds/types.ts';
import { compileRegexRewrite, type RegexRewrite } from '../common/regex.ts';
import { authorityPort, stripPort } from '../common/header_utils.ts';

const CODES: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

export interface Redirect {
  status: number;
  location(scheme: string, authority: string, pathAndQuery: string): string;
}

/** Splits "/a/b?x=1" into ["/a/b", "?x=1"] (query keeps its "?"). */
export function splitPath(pathAndQuery: string): [string, string] {
  const q = pathAndQuery.indexOf('?');
  return q < 0 ? [pathAndQuery, ''] : [pathAndQuery.slice(0, q), pathAndQuery.slice(q)];
}

/** prefix_rewrite: swaps the matched prefix (case-insensitively if the match was). */
export function rewritePrefix(path: string, matched: string, replacement: string): string {
  return replacement + path.slice(matched.length);
}

/** regex_rewrite on the path part only; the query string is kept. */
export function rewriteRegex(pathAndQuery: string, rewrite: RegexRewrite): string {
  const [p, q] = splitPath(pathAndQuery);
  return rewrite(p) + q;
}

export function compileRedirect(r: EnvoyJson, match: EnvoyJson): Redirect {
  const status = CODES[r.response_code ?? 'MOVED_PERMANENTLY'] ?? 301;
  const scheme: string | undefined = r.https_redirect ? 'https' : r.scheme_redirect;
  const host: string | undefined = r.host_redirect;
  const port: number | undefined = r.port_redirect ? Number(r.port_redirect) : undefined;
  const pathRedirect: string | undefined = r.path_redirect;
  const prefix: string | undefined = r.prefix_rewrite;
  const regex = r.regex_rewrite ? compileRegexRewrite(r.regex_rewrite, 'redirect.regex_rewrite') : undefined;
  const matched: string = match.prefix ?? match.path ?? match.path_separated_prefix ?? '';
  const stripQuery = r.strip_query === true;
  return {
    status,
    location(reqScheme, authority, pathAndQuery) {
      const newScheme = scheme ?? reqScheme;
      let h = host ?? authority;
      let p = authorityPort(h);
      let hostOnly = p === undefined ? h : stripPort(h);
      if (hostOnly.includes(':')) hostOnly = `[${hostOnly}]`;
      if (port !== undefined) p = String(port);
      // A scheme change drops a well-known port of the old scheme, as Envoy does.
      else if (newScheme !== reqScheme && (p === '80' || p === '443')) p = undefined;
      if (newScheme === 'https' && p === '443') p = undefined;
      if (newScheme === 'http' && p === '80') p = undefined;
      h = p === undefined ? hostOnly : `${hostOnly}:${p}`;
      let [path, query] = splitPath(pathAndQuery);
      if (pathRedirect !== undefined) {
        const [pp, pq] = splitPath(pathRedirect);
        path = pp;
        if (pathRedirect.includes('?')) query = pq;
      } else if (prefix !== undefined && path.startsWith(matched)) {
        path = rewritePrefix(path, matched, prefix);
      } else if (regex) {
        path = regex(path);
      }
      if (stripQuery && !(pathRedirect !== undefined && pathRedirect.includes('?'))) query = '';
      return `${newScheme}://${h}${path}${query}`;
    },
  };
}
