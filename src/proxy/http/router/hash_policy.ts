/**
 * RouteAction.hash_policy evaluated into LoadBalancerContext.hashKey for ring-hash / maglev
 * clusters: header (optionally regex-rewritten), cookie, connection_properties.source_ip and
 * query_parameter; `terminal` stops at the first policy that produced a value, as in Envoy.
 */
import type { ConnectionInfo, HeaderMap } from '../../interfaces.ts';
import type { EnvoyJson } from '../../../xds/types.ts';
import { getJoined, getHeader } from '../common/header_utils.ts';

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

/** Returns the hash key, or undefined when no policy produced one (LB then picks randomly). */
export function computeHashKey(policies: EnvoyJson[], headers: HeaderMap, conn: ConnectionInfo): string | undefined {
  let key: string | undefined;
  for (const p of policies) {
    let v: string | undefined;
    if (p.header) {
      v = getJoined(headers, String(p.header.header_name).toLowerCase());
      if (v !== undefined && p.header.regex_rewrite) {
        // Rarely used; compiled lazily per request rather than cached, to keep this module tiny.
        v = v.replace(new RegExp(p.header.regex_rewrite.pattern.regex, 'g'), String(p.header.regex_rewrite.substitution ?? '').replace(/\\(\d)/g, '$$$1'));
      }
    } else if (p.cookie) {
      v = cookieValue(headers, String(p.cookie.name));
    } else if (p.connection_properties?.source_ip) {
      v = conn.remoteAddress;
    } else if (p.query_parameter) {
      v = queryValue(getHeader(headers, ':path') ?? '', String(p.query_parameter.name));
    }
    if (v !== undefined) {
      key = key === undefined ? v : `${key}\n${v}`;
      if (p.terminal) break;
    }
  }
  return key;
}
