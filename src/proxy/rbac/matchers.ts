/**
 * Envoy's config.rbac.v3 Permission and Principal, compiled once into predicates over an
 * RbacRequest. Every kind Envoy defines is either implemented or rejected with the field path
 * (the resource is NACKed): an RBAC rule the proxy cannot evaluate must never be read as
 * "matches" or "does not match" in silence, since either can open a door.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { compileHeaderMatcher } from '../http/router/route_match.ts';
import { compileStringMatcher, type StringPredicate } from '../http/common/string_matcher.ts';
import { cidrContains, parseCidr, type ipBits } from '../listener/cidr.ts';
import { compileMetadataMatcher } from './value_matcher.ts';
import { compileUriTemplate } from './uri_template.ts';
import type { RbacRequest } from './request.ts';

export type RbacPredicate = (r: RbacRequest) => boolean;

/** The one field set in a oneof message; throws when none or several are. */
function oneofKey(m: EnvoyJson, path: string, kind: string): string {
  if (!m || typeof m !== 'object') throw new Error(`${path}: ${kind} must be a message`);
  const keys = Object.keys(m).filter((k) => m[k] !== undefined && k !== '@type');
  if (keys.length !== 1) throw new Error(`${path}: ${kind} needs exactly one rule, got ${keys.length === 0 ? 'none' : keys.join(', ')}`);
  return keys[0];
}

function setOf(s: EnvoyJson | undefined, field: 'rules' | 'ids', path: string, compile: (m: EnvoyJson, p: string) => RbacPredicate): RbacPredicate[] {
  const list: EnvoyJson[] = s?.[field] ?? [];
  if (list.length === 0) throw new Error(`${path}.${field}: at least one is required`);
  return list.map((m, i) => compile(m, `${path}.${field}[${i}]`));
}

function all(ps: RbacPredicate[]): RbacPredicate {
  return ps.length === 1 ? ps[0] : (r) => ps.every((p) => p(r));
}
function some(ps: RbacPredicate[]): RbacPredicate {
  return ps.length === 1 ? ps[0] : (r) => ps.some((p) => p(r));
}

function anyTrue(v: unknown, path: string): RbacPredicate {
  if (v !== true) throw new Error(`${path}: must be true`);
  return () => true;
}

function header(h: EnvoyJson, path: string): RbacPredicate {
  let m;
  try {
    m = compileHeaderMatcher(h);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  return (r) => m(r.matchInput());
}

/** type.matcher.v3.PathMatcher: the path without query; never matches without a :path (TCP). */
function urlPath(pm: EnvoyJson, path: string): RbacPredicate {
  if (pm?.path === undefined) throw new Error(`${path}.path: PathMatcher needs path`);
  const s = stringMatcher(pm.path, `${path}.path`);
  return (r) => {
    const p = r.urlPath;
    return p !== undefined && s(p);
  };
}

function stringMatcher(m: EnvoyJson, path: string): StringPredicate {
  try {
    return compileStringMatcher(m, path);
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.message.includes(path)) throw err;
    throw Object.assign(err, { message: `${path}: ${err.message}` });
  }
}

function cidr(c: EnvoyJson, path: string, ip: (r: RbacRequest) => ReturnType<typeof ipBits>): RbacPredicate {
  const range = parseCidr(c ?? {}, path);
  return (r) => cidrContains(range, ip(r));
}

export function compilePermission(p: EnvoyJson, path: string): RbacPredicate {
  const key = oneofKey(p, path, 'Permission');
  const v = p[key];
  const at = `${path}.${key}`;
  switch (key) {
    case 'and_rules':
      return all(setOf(v, 'rules', at, compilePermission));
    case 'or_rules':
      return some(setOf(v, 'rules', at, compilePermission));
    case 'any':
      return anyTrue(v, at);
    case 'header':
      return header(v, at);
    case 'url_path':
      return urlPath(v, at);
    case 'uri_template': {
      const t = compileUriTemplate(v, at);
      return (r) => {
        const u = r.urlPath;
        return u !== undefined && t(u);
      };
    }
    case 'destination_ip':
      return cidr(v, at, (r) => r.destinationIp);
    case 'destination_port': {
      const port = Number(v);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${at}: ${JSON.stringify(v)} is not a port`);
      return (r) => r.connection.localPort === port;
    }
    case 'destination_port_range': {
      // type.v3.Int32Range: [start, end).
      const start = Number(v?.start ?? 0);
      const end = Number(v?.end ?? 0);
      if (!Number.isInteger(start) || !Number.isInteger(end)) throw new Error(`${at}: start and end must be integers`);
      return (r) => r.connection.localPort >= start && r.connection.localPort < end;
    }
    case 'metadata': {
      const m = compileMetadataMatcher(v, at);
      return (r) => m(r.metadata);
    }
    case 'not_rule': {
      const inner = compilePermission(v, at);
      return (r) => !inner(r);
    }
    case 'requested_server_name': {
      // Envoy matches the SNI, the empty string when the client sent none.
      const s = stringMatcher(v, at);
      return (r) => s(r.connection.serverName ?? '');
    }
    case 'matcher':
      throw new Error(`${at}: RBAC matcher extensions (envoy.rbac.matchers) are not supported`);
    default:
      throw new Error(`${at}: unknown RBAC permission kind "${key}"`);
  }
}

export function compilePrincipal(p: EnvoyJson, path: string): RbacPredicate {
  const key = oneofKey(p, path, 'Principal');
  const v = p[key];
  const at = `${path}.${key}`;
  switch (key) {
    case 'and_ids':
      return all(setOf(v, 'ids', at, compilePrincipal));
    case 'or_ids':
      return some(setOf(v, 'ids', at, compilePrincipal));
    case 'any':
      return anyTrue(v, at);
    case 'authenticated': {
      const unknown = Object.keys(v ?? {}).filter((k) => k !== 'principal_name' && v[k] !== undefined);
      if (unknown.length) throw new Error(`${at}: unknown field ${unknown.join(', ')}`);
      // Envoy: any TLS connection matches when principal_name is unset; otherwise the URI SANs,
      // then the DNS SANs, then the subject.
      if (v?.principal_name === undefined) return (r) => r.peer !== undefined;
      const s = stringMatcher(v.principal_name, `${at}.principal_name`);
      return (r) => {
        const peer = r.peer;
        if (!peer) return false;
        for (const u of peer.uris) if (s(u)) return true;
        for (const d of peer.dns) if (s(d)) return true;
        return s(peer.subject);
      };
    }
    case 'source_ip':
    case 'direct_remote_ip':
      return cidr(v, at, (r) => r.directRemoteIp);
    case 'remote_ip':
      return cidr(v, at, (r) => r.remoteIp);
    case 'header':
      return header(v, at);
    case 'url_path':
      return urlPath(v, at);
    case 'metadata': {
      const m = compileMetadataMatcher(v, at);
      return (r) => m(r.metadata);
    }
    case 'not_id': {
      const inner = compilePrincipal(v, at);
      return (r) => !inner(r);
    }
    case 'filter_state':
      throw new Error(`${at}: filter_state principals are not supported (no filter state is kept)`);
    default:
      throw new Error(`${at}: unknown RBAC principal kind "${key}"`);
  }
}
