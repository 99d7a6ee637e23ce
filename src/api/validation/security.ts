/**
 * PeerAuthentication, AuthorizationPolicy and RequestAuthentication rules.
 */
import {
  Problems, arr, checkDuration, checkPort, checkSelector, checkSelectorXorTargetRef, child, isIPOrCidr, isSet, obj, str, type Obj,
} from './common.ts';

export function validatePeerAuthentication(spec: Obj, p: Problems): void {
  checkSelector(p, 'spec.selector', spec.selector, 'matchLabels');
  const plm = obj(spec.portLevelMtls);
  if (plm && Object.keys(plm).length > 0) {
    const labels = obj(obj(spec.selector)?.matchLabels);
    if (!labels || Object.keys(labels).length === 0) p.err('spec.portLevelMtls', 'portLevelMtls requires selector');
    for (const key of Object.keys(plm)) {
      const n = Number(key);
      if (!/^\d+$/.test(key) || n < 1 || n > 65535) p.err(child('spec.portLevelMtls', key), 'port must be between 1-65535');
    }
  }
}

/** Attribute names usable in `when` conditions (Istio's authorization condition keys). */
const WHEN_KEYS = [
  'source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'source.serviceAccount',
  'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter',
  'destination.ip', 'destination.port', 'connection.sni',
];
const WHEN_PREFIXES = ['request.headers[', 'request.auth.claims[', 'experimental.envoy.filters.'];

const SOURCE_FIELDS = ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks', 'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains'];
const OPERATION_FIELDS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'];

export function validateAuthorizationPolicy(spec: Obj, p: Problems): void {
  checkSelector(p, 'spec.selector', spec.selector, 'matchLabels');
  checkSelectorXorTargetRef(p, spec);
  const action = str(spec.action) ?? 'ALLOW';
  const provider = obj(spec.provider);
  if (action === 'CUSTOM') {
    if (!provider || !isSet(provider.name)) p.err('spec.provider.name', 'CUSTOM action requires a provider name (an extensionProviders entry in meshConfig)');
  } else if (provider) {
    p.err('spec.provider', `provider is only allowed with the CUSTOM action, not ${action}`);
  }
  if (action === 'DENY' || action === 'AUDIT' || action === 'CUSTOM') {
    // An empty rule list never matches for these actions: the policy would do nothing.
    if (arr(spec.rules).length === 0) p.warn('spec.rules', `a ${action} policy without rules has no effect`);
  }
  arr(spec.rules).forEach((r, i) => {
    const rp = child('spec.rules', i);
    const ro = obj(r);
    if (!ro) return;
    arr(ro.from).forEach((f, j) => {
      const fp = child(child(rp, 'from'), j);
      const src = obj(obj(f)?.source);
      if (!src || !SOURCE_FIELDS.some((k) => isSet(src[k]))) {
        p.err(child(fp, 'source'), '`from.source` must not be empty');
        return;
      }
      checkValues(src, child(fp, 'source'), SOURCE_FIELDS, p);
      if ((isSet(src.serviceAccounts) || isSet(src.notServiceAccounts)) && (isSet(src.principals) || isSet(src.notPrincipals) || isSet(src.namespaces) || isSet(src.notNamespaces))) {
        p.err(child(fp, 'source'), 'Cannot set serviceAccounts with namespaces or principals');
      }
      for (const k of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks']) {
        arr(src[k]).forEach((v, n) => {
          if (typeof v === 'string' && v !== '' && !isIPOrCidr(v)) p.err(child(child(child(fp, 'source'), k), n), `"${v}" is not a valid IP address or CIDR block`);
        });
      }
    });
    arr(ro.to).forEach((t, j) => {
      const tp = child(child(rp, 'to'), j);
      const op = obj(obj(t)?.operation);
      if (!op || !OPERATION_FIELDS.some((k) => isSet(op[k]))) {
        p.err(child(tp, 'operation'), '`to.operation` must not be empty');
        return;
      }
      checkValues(op, child(tp, 'operation'), OPERATION_FIELDS, p);
      for (const k of ['ports', 'notPorts']) {
        arr(op[k]).forEach((v, n) => {
          const vp = child(child(child(tp, 'operation'), k), n);
          if (typeof v === 'string' && v !== '') {
            if (!/^\d+$/.test(v)) p.err(vp, `port "${v}" must be a number`);
            else checkPort(p, vp, Number(v));
          }
        });
      }
    });
    arr(ro.when).forEach((w, j) => {
      const wp = child(child(rp, 'when'), j);
      const wo = obj(w);
      if (!wo) return;
      const key = str(wo.key);
      if (!key) p.err(child(wp, 'key'), 'key is required');
      else if (!WHEN_KEYS.includes(key) && !WHEN_PREFIXES.some((pre) => key.startsWith(pre))) {
        p.err(child(wp, 'key'), `unknown attribute "${key}"`);
      } else if ((key.startsWith('request.headers[') || key.startsWith('request.auth.claims[')) && !/\[[^\]]+\](\[[^\]]+\])*$/.test(key)) {
        p.err(child(wp, 'key'), `"${key}" must name a header or claim in brackets, e.g. request.headers[x-token]`);
      }
      if (!isSet(wo.values) && !isSet(wo.notValues)) p.err(wp, `at least one of values or notValues must be set for key ${key ?? ''}`);
      if (key === 'source.ip' || key === 'remote.ip' || key === 'destination.ip') {
        for (const f of ['values', 'notValues']) arr(wo[f]).forEach((v, n) => {
          if (typeof v === 'string' && !isIPOrCidr(v)) p.err(child(child(wp, f), n), `"${v}" is not a valid IP address or CIDR block`);
        });
      }
      if (key === 'destination.port') {
        for (const f of ['values', 'notValues']) arr(wo[f]).forEach((v, n) => {
          if (typeof v === 'string' && !/^\d+$/.test(v)) p.err(child(child(wp, f), n), `port "${v}" must be a number`);
        });
      }
    });
  });
}

/** Empty strings in source/operation lists are always mistakes. */
function checkValues(o: Obj, path: string, fields: string[], p: Problems): void {
  for (const f of fields) {
    arr(o[f]).forEach((v, i) => {
      if (v === '') p.err(child(child(path, f), i), `empty value is not allowed, found in ${f}`);
    });
  }
}

export function validateRequestAuthentication(spec: Obj, p: Problems): void {
  checkSelector(p, 'spec.selector', spec.selector, 'matchLabels');
  checkSelectorXorTargetRef(p, spec);
  const issuers = new Map<string, number>();
  arr(spec.jwtRules).forEach((r, i) => {
    const rp = child('spec.jwtRules', i);
    const ro = obj(r);
    if (!ro) return;
    const issuer = str(ro.issuer);
    if (!issuer) p.err(child(rp, 'issuer'), 'issuer must be set');
    else {
      const prev = issuers.get(issuer);
      if (prev !== undefined) p.warn(child(rp, 'issuer'), `issuer "${issuer}" is also used by spec.jwtRules[${prev}]`);
      else issuers.set(issuer, i);
    }
    if (isSet(ro.jwks) && isSet(ro.jwksUri)) p.err(rp, 'only one of jwks or jwksUri can be set');
    const uri = str(ro.jwksUri);
    if (uri) {
      let scheme: string | undefined;
      try {
        scheme = new URL(uri).protocol;
      } catch {
        p.err(child(rp, 'jwksUri'), `invalid URL "${uri}"`);
      }
      if (scheme && scheme !== 'http:' && scheme !== 'https:') p.err(child(rp, 'jwksUri'), 'url must have scheme http:// or https://');
    }
    const jwks = str(ro.jwks);
    if (jwks) {
      try {
        const parsed = JSON.parse(jwks);
        if (!obj(parsed) || !Array.isArray(parsed.keys)) p.err(child(rp, 'jwks'), 'jwks must be a JSON Web Key Set ({"keys": [...]})');
      } catch (e) {
        p.err(child(rp, 'jwks'), `jwks is not valid JSON: ${(e as Error).message}`);
      }
    }
    arr(ro.audiences).forEach((a, j) => {
      if (a === '') p.err(child(child(rp, 'audiences'), j), 'audience must not be empty');
    });
    arr(ro.fromHeaders).forEach((h, j) => {
      if (!isSet(obj(h)?.name)) p.err(child(child(child(rp, 'fromHeaders'), j), 'name'), 'header name is required');
    });
    arr(ro.fromParams).forEach((h, j) => {
      if (h === '') p.err(child(child(rp, 'fromParams'), j), 'parameter name must not be empty');
    });
    arr(ro.outputClaimToHeaders).forEach((h, j) => {
      const hp = child(child(rp, 'outputClaimToHeaders'), j);
      const ho = obj(h);
      if (!ho) return;
      if (!isSet(ho.header)) p.err(child(hp, 'header'), 'header is required');
      else if (!/^[-!#$%&'*+.^_`|~0-9A-Za-z]+$/.test(String(ho.header))) p.err(child(hp, 'header'), `invalid header name "${ho.header}"`);
      if (!isSet(ho.claim)) p.err(child(hp, 'claim'), 'claim is required');
    });
    checkDuration(p, child(rp, 'timeout'), ro.timeout);
  });
}
