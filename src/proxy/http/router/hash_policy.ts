/**
 * RouteAction.hash_policy evaluated into LoadBalancerContext.hashKey for ring-hash / maglev
 * clusters: header (optionally regex-rewritten), cookie, connection_properties.source_ip and
 * query_parameter; `terminal` stops at the first policy that produced a value, as in Envoy.
 */
import type { ConnectionInfo, HeaderMap } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { getJoined, getHeader } from '../common/header_utils.ts';
import { compileRegexRewrite } from '../common/regex.ts';
import { ERR, TsmeshError } from '../../../api/errors.ts';

function cookieValue(headers: HeaderMap, name: string): string | undefined {
  const raw = getJoined(headers, 'cookie');
  if (!raw) return undefined;
  for (const part of raw.split(/;\s*/)) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function queryValue(path: string, name: string): string | undefined {
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(path.slice(q + 1)).get(name) ?? undefined;
}

/** One compiled RouteAction.HashPolicy: produces its part of the key, or undefined. */
interface CompiledPolicy {
  value(headers: HeaderMap, conn: ConnectionInfo): string | undefined;
  terminal: boolean;
}

/** RouteAction.hash_policy compiled once with the route (regex_rewrite included). */
export type HashPolicy = readonly CompiledPolicy[];

export function compileHashPolicy(policies: EnvoyJson[], path: string): HashPolicy {
  return policies.map((p, i): CompiledPolicy => {
    const at = `${path}[${i}]`;
    const terminal = p.terminal === true;
    if (p.header) {
      const name = String(p.header.header_name ?? '').toLowerCase();
      if (!name) throw new Error(`${at}.header.header_name is required`);
      const rewrite = p.header.regex_rewrite ? compileRegexRewrite(p.header.regex_rewrite, `${at}.header.regex_rewrite`) : undefined;
      return {
        terminal,
        value: (h) => {
          const v = getJoined(h, name);
          return v !== undefined && rewrite ? rewrite(v) : v;
        },
      };
    }
    if (p.cookie) {
      const name = String(p.cookie.name ?? '');
      return { terminal, value: (h) => cookieValue(h, name) };
    }
    if (p.connection_properties?.source_ip) return { terminal, value: (_h, conn) => conn.remoteAddress };
    if (p.query_parameter) {
      const name = String(p.query_parameter.name ?? '');
      return { terminal, value: (h) => queryValue(getHeader(h, ':path') ?? '', name) };
    }
    // filter_state and future kinds: accepting one would silently drop it from the key.
    throw new TsmeshError(ERR.UNSUPPORTED_FIELD, `${at}: only header, cookie, connection_properties.source_ip and query_parameter are supported`);
  });
}

/** Returns the hash key, or undefined when no policy produced one (LB then picks randomly). */
export function computeHashKey(policies: HashPolicy, headers: HeaderMap, conn: ConnectionInfo): string | undefined {
  let key: string | undefined;
  for (const p of policies) {
    const v = p.value(headers, conn);
    if (v !== undefined) {
      key = key === undefined ? v : `${key}\n${v}`;
      if (p.terminal) break;
    }
  }
  return key;
}
