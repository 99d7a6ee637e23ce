/**
 * One AuthorizationPolicy rule as an Envoy RBAC Policy (Istio's authz model): each `to.operation`
 * becomes one permission and each `from.source` one principal, both AND-ing their fields (and the
 * rule's `when` conditions, each on the side Envoy checks it: destination facts are permissions,
 * source and request facts principals); the `not` forms are negated. A policy matches when any
 * permission and any principal match.
 *
 * On a TCP chain the HTTP-only keys cannot be evaluated. A DENY rule then drops them (it matches
 * more, so it denies more), while an ALLOW or AUDIT rule that uses them is left out (it matches
 * nothing): the safe direction either way, as Istio does.
 */
import type { EnvoyJson } from '../../xds/types.ts';
import { cidr, headerMatcher, hostMatcher, namespaceMatcher, pathPermission, principalMatcher, serviceAccountMatcher, stringMatcher, trustDomainMatcher } from './values.ts';

export const ISTIO_AUTHN = 'istio_authn';

type Side = 'permission' | 'principal';
interface Generated {
  side: Side;
  httpOnly: boolean;
  /** One matcher per value: the values of a key are OR-ed. */
  each: (v: string) => EnvoyJson;
}

function header(name: string, v: string): EnvoyJson {
  return { header: name === ':authority' || name === 'host' ? hostMatcher(v) : headerMatcher(name, v) };
}
function authn(key: string, v: string): EnvoyJson {
  return { metadata: { filter: ISTIO_AUTHN, path: [{ key }], value: { string_match: stringMatcher(v) } } };
}
function claim(path: string[], v: string): EnvoyJson {
  return { metadata: { filter: ISTIO_AUTHN, path: [{ key: 'request.auth.claims' }, ...path.map((key) => ({ key }))], value: { list_match: { one_of: { string_match: stringMatcher(v) } } } } };
}
function port(v: string): EnvoyJson {
  return { destination_port: Number(v) };
}

/** `from.source` fields. */
function sourceKey(key: string, policyNamespace: string): Generated | undefined {
  switch (key) {
    case 'principals':
      return { side: 'principal', httpOnly: false, each: (v) => ({ authenticated: { principal_name: principalMatcher(v) } }) };
    case 'serviceAccounts':
      return { side: 'principal', httpOnly: false, each: (v) => ({ authenticated: { principal_name: serviceAccountMatcher(v, policyNamespace) } }) };
    case 'namespaces':
      return { side: 'principal', httpOnly: false, each: (v) => ({ authenticated: { principal_name: namespaceMatcher(v) } }) };
    case 'trustDomains':
      return { side: 'principal', httpOnly: false, each: (v) => ({ authenticated: { principal_name: trustDomainMatcher(v) } }) };
    case 'ipBlocks':
      return { side: 'principal', httpOnly: false, each: (v) => ({ direct_remote_ip: cidr(v) }) };
    case 'remoteIpBlocks':
      return { side: 'principal', httpOnly: true, each: (v) => ({ remote_ip: cidr(v) }) };
    case 'requestPrincipals':
      return { side: 'principal', httpOnly: true, each: (v) => authn('request.auth.principal', v) };
  }
  return undefined;
}

/** `to.operation` fields. */
function operationKey(key: string): Generated | undefined {
  switch (key) {
    case 'hosts':
      return { side: 'permission', httpOnly: true, each: (v) => ({ header: hostMatcher(v) }) };
    case 'methods':
      return { side: 'permission', httpOnly: true, each: (v) => ({ header: v === '*' ? { name: ':method', present_match: true } : { name: ':method', string_match: stringMatcher(v) } }) };
    case 'paths':
      return { side: 'permission', httpOnly: true, each: pathPermission };
    case 'ports':
      return { side: 'permission', httpOnly: false, each: port };
  }
  return undefined;
}

/** `when` keys (Istio's condition attributes). */
export function conditionKey(key: string, policyNamespace: string): Generated | undefined {
  const headerName = /^request\.headers\[(.+)\]$/.exec(key)?.[1];
  if (headerName) return { side: 'principal', httpOnly: true, each: (v) => header(headerName, v) };
  const claims = /^request\.auth\.claims((?:\[[^\]]+\])+)$/.exec(key)?.[1];
  if (claims) {
    const path = [...claims.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!);
    return { side: 'principal', httpOnly: true, each: (v) => claim(path, v) };
  }
  const exp = /^experimental\.envoy\.filters\.(.+)\[(.+)\]$/.exec(key);
  if (exp) {
    const filter = `envoy.filters.${exp[1]}`;
    const path = exp[2]!.split('][').map((k) => ({ key: k }));
    return { side: 'permission', httpOnly: true, each: (v) => ({ metadata: { filter, path, value: { string_match: stringMatcher(v) } } }) };
  }
  switch (key) {
    case 'source.ip':
      return sourceKey('ipBlocks', policyNamespace);
    case 'remote.ip':
      return sourceKey('remoteIpBlocks', policyNamespace);
    case 'source.namespace':
      return sourceKey('namespaces', policyNamespace);
    case 'source.principal':
      return sourceKey('principals', policyNamespace);
    case 'source.serviceAccount':
      return sourceKey('serviceAccounts', policyNamespace);
    case 'request.auth.principal':
    case 'request.auth.audiences':
    case 'request.auth.presenter':
      return { side: 'principal', httpOnly: true, each: (v) => authn(key, v) };
    case 'destination.ip':
      return { side: 'permission', httpOnly: false, each: (v) => ({ destination_ip: cidr(v) }) };
    case 'destination.port':
      return { side: 'permission', httpOnly: false, each: port };
    case 'connection.sni':
      return { side: 'permission', httpOnly: false, each: (v) => ({ requested_server_name: stringMatcher(v) }) };
  }
  return undefined;
}

/** Thrown for an ALLOW/AUDIT rule that cannot hold on a TCP chain; the caller leaves the rule out. */
export class HttpOnlyOnTcp extends Error {}

interface Clause {
  side: Side;
  matcher: EnvoyJson;
}

/** values OR-ed, notValues OR-ed then negated; each present part a clause of the AND. */
function clauses(g: Generated, values: unknown, notValues: unknown, forTcp: boolean, dropHttp: boolean): Clause[] {
  const vs = Array.isArray(values) ? values.map(String) : [];
  const nvs = Array.isArray(notValues) ? notValues.map(String) : [];
  if (vs.length === 0 && nvs.length === 0) return [];
  if (forTcp && g.httpOnly) {
    if (dropHttp) return [];
    throw new HttpOnlyOnTcp();
  }
  const out: Clause[] = [];
  const or = g.side === 'permission' ? 'or_rules' : 'or_ids';
  const list = g.side === 'permission' ? 'rules' : 'ids';
  const not = g.side === 'permission' ? 'not_rule' : 'not_id';
  if (vs.length > 0) out.push({ side: g.side, matcher: { [or]: { [list]: vs.map(g.each) } } });
  if (nvs.length > 0) out.push({ side: g.side, matcher: { [not]: { [or]: { [list]: nvs.map(g.each) } } } });
  return out;
}

const NOT = (k: string): string => `not${k[0]!.toUpperCase()}${k.slice(1)}`;

/**
 * The RBAC Policy for one rule. `forTcp` with `dropHttp` (DENY) ignores HTTP-only keys; without it
 * (ALLOW, AUDIT) they throw HttpOnlyOnTcp.
 */
export function rulePolicy(rule: EnvoyJson, policyNamespace: string, forTcp: boolean, dropHttp: boolean): EnvoyJson {
  const when: Clause[] = [];
  for (const c of (rule.when ?? []) as EnvoyJson[]) {
    const g = conditionKey(String(c.key), policyNamespace);
    if (!g) throw new Error(`unknown condition key ${c.key}`);
    when.push(...clauses(g, c.values, c.notValues, forTcp, dropHttp));
  }
  const from = ((rule.from ?? []) as EnvoyJson[]).map((f) => {
    const src = f.source ?? {};
    const out: Clause[] = [];
    for (const k of ['principals', 'serviceAccounts', 'trustDomains', 'requestPrincipals', 'namespaces', 'ipBlocks', 'remoteIpBlocks']) out.push(...clauses(sourceKey(k, policyNamespace)!, src[k], src[NOT(k)], forTcp, dropHttp));
    return out;
  });
  const to = ((rule.to ?? []) as EnvoyJson[]).map((t) => {
    const op = t.operation ?? {};
    const out: Clause[] = [];
    for (const k of ['hosts', 'methods', 'paths', 'ports']) out.push(...clauses(operationKey(k)!, op[k], op[NOT(k)], forTcp, dropHttp));
    return out;
  });
  const permissionWhen = when.filter((c) => c.side === 'permission').map((c) => c.matcher);
  const principalWhen = when.filter((c) => c.side === 'principal').map((c) => c.matcher);
  const and = (ms: EnvoyJson[]): EnvoyJson[] => (ms.length > 0 ? ms : [{ any: true }]);
  const permissions = (to.length > 0 ? to : [[]]).map((cs) => ({ and_rules: { rules: and([...cs.map((c) => c.matcher), ...permissionWhen]) } }));
  const principals = (from.length > 0 ? from : [[]]).map((cs) => ({ and_ids: { ids: and([...cs.map((c) => c.matcher), ...principalWhen]) } }));
  return { permissions, principals };
}
