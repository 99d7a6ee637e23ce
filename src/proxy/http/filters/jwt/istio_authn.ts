/**
 * Istio's authentication result as dynamic metadata (namespace `istio_authn`), what Istio's
 * AuthorizationPolicy translation matches `requestPrincipals` and `request.auth.*` on:
 *  - request.auth.principal: "<iss>/<sub>"
 *  - request.auth.audiences: the (first) audience, a string
 *  - request.auth.presenter: azp
 *  - request.auth.claims: every claim as a list of values (a string claim is a one-element list,
 *    space-delimited claims such as `scope` are split), nested objects kept as structs whose
 *    leaves are lists, since the RBAC rules match claims with list_match.one_of.
 */
export const ISTIO_AUTHN = 'istio_authn';

function claimValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => x !== null && typeof x !== 'object').map((x) => (typeof x === 'string' ? x : String(x)));
  if (v !== null && typeof v === 'object') return claimsStruct(v as Record<string, unknown>);
  if (v === null || v === undefined) return undefined;
  return [typeof v === 'string' ? v : String(v)];
}

function claimsStruct(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const c = claimValue(v);
    if (c !== undefined) out[k] = c;
  }
  return out;
}

export function istioAuthnFields(payload: Record<string, unknown>, spaceDelimited: ReadonlySet<string>): Record<string, unknown> {
  const normalized: Record<string, unknown> = { ...payload };
  for (const k of spaceDelimited) if (typeof normalized[k] === 'string') normalized[k] = (normalized[k] as string).split(' ').filter(Boolean);
  const out: Record<string, unknown> = { 'request.auth.claims': claimsStruct(normalized) };
  const { iss, sub, azp, aud } = payload;
  if (typeof iss === 'string' && typeof sub === 'string') out['request.auth.principal'] = `${iss}/${sub}`;
  const firstAud = typeof aud === 'string' ? aud : Array.isArray(aud) ? aud.find((a) => typeof a === 'string') : undefined;
  if (firstAud !== undefined) out['request.auth.audiences'] = firstAud;
  if (typeof azp === 'string') out['request.auth.presenter'] = azp;
  return out;
}
