/**
 * VirtualService rules (Istio's documented semantics): hosts, gateways, and each http / tls /
 * tcp route.
 */
import {
  Problems, arr, checkDuration, checkExportTo, checkHost, checkLabels, checkPercent, checkPort, checkRange,
  checkRegex, checkStringMatch, child, hostProblem, isDns1123Label, isDns1123Subdomain, isIPOrCidr, isSet, num, obj, str,
  type Obj,
} from './common.ts';
import { ERR } from '../errors.ts';
import { destinationWeights } from '../weights.ts';

/** Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on policies, which Istio's retryOn accepts. */
const RETRY_ON = new Set([
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'envoy-ratelimited', 'retriable-4xx',
  'refused-stream', 'retriable-status-codes', 'retriable-headers', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);
const CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
// RFC 7230 token characters: what a header name may contain.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function validateVirtualService(spec: Obj, p: Problems): void {
  const hosts = arr(spec.hosts);
  const gateways = arr(spec.gateways).filter((g): g is string => typeof g === 'string');
  // A VirtualService without hosts is a delegate: only reachable from another one's `delegate`.
  const isDelegate = hosts.length === 0;
  const appliesToMesh = gateways.length === 0 || gateways.includes('mesh');

  hosts.forEach((h, i) => {
    const hp = child('spec.hosts', i);
    const host = str(h);
    if (host === undefined) return;
    if (host.includes('/')) {
      p.err(hp, `host "${host}" must not contain "/" (namespace prefixes belong in Gateway and Sidecar hosts)`);
      return;
    }
    checkHost(p, hp, host);
    if (host === '*' && appliesToMesh) p.err(hp, 'wildcard host * is not allowed for virtual services bound to the mesh gateway');
  });
  gateways.forEach((g, i) => checkGatewayName(p, child('spec.gateways', i), g));
  checkExportTo(p, 'spec.exportTo', spec.exportTo);

  const http = arr(spec.http);
  const tls = arr(spec.tls);
  const tcp = arr(spec.tcp);
  if (isDelegate) {
    if (gateways.length > 0) p.err('spec.gateways', 'a delegate virtual service (one without hosts) must not set gateways');
    if (tls.length > 0) p.err('spec.tls', 'a delegate virtual service (one without hosts) must not have tls routes');
    if (tcp.length > 0) p.err('spec.tcp', 'a delegate virtual service (one without hosts) must not have tcp routes');
  }
  if (http.length + tls.length + tcp.length === 0) p.err('spec', 'http, tcp or tls must be provided in virtual service');

  http.forEach((r, i) => validateHttpRoute(obj(r), child('spec.http', i), p, isDelegate));
  tls.forEach((r, i) => validateTlsRoute(obj(r), child('spec.tls', i), p, hosts.filter((h): h is string => typeof h === 'string')));
  tcp.forEach((r, i) => validateTcpRoute(obj(r), child('spec.tcp', i), p));
}

/** `mesh`, `name` or `namespace/name`. */
export function checkGatewayName(p: Problems, path: string, g: string): void {
  if (g === 'mesh') return;
  const parts = g.split('/');
  if (parts.length > 2) {
    p.err(path, `invalid gateway name "${g}": expected "mesh", "name" or "namespace/name"`);
    return;
  }
  const [ns, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (ns !== undefined && !isDns1123Label(ns)) p.err(path, `invalid gateway name "${g}": "${ns}" is not a valid namespace`);
  if (!isDns1123Subdomain(name)) p.err(path, `invalid gateway name "${g}": "${name}" is not a valid resource name`);
}

function validateHttpRoute(r: Obj | undefined, path: string, p: Problems, inDelegate: boolean): void {
  if (!r) return;
  const actions = (['route', 'redirect', 'directResponse', 'delegate'] as const).filter((k) => isSet(r[k]));
  if (actions.length === 0) p.err(path, 'HTTP route must have one of route, redirect, directResponse or delegate');
  else if (actions.length > 1) p.err(path, `route, redirect, directResponse and delegate are mutually exclusive (found ${actions.join(' and ')})`);
  if (isSet(r.rewrite) && isSet(r.redirect)) p.err(child(path, 'rewrite'), 'rewrite must not be used with redirect');
  if (isSet(r.delegate)) {
    const d = obj(r.delegate);
    if (inDelegate) p.err(child(path, 'delegate'), 'a delegate virtual service cannot delegate further');
    if (d && !isSet(d.name)) p.err(`${path}.delegate.name`, 'delegate name is required');
    if (d && typeof d.name === 'string' && d.name && !isDns1123Subdomain(d.name)) p.err(`${path}.delegate.name`, `invalid name "${d.name}"`);
    if (d && typeof d.namespace === 'string' && d.namespace && !isDns1123Label(d.namespace)) p.err(`${path}.delegate.namespace`, `invalid namespace "${d.namespace}"`);
  }

  arr(r.match).forEach((m, i) => validateHttpMatch(obj(m), child(child(path, 'match'), i), p));

  const routes = arr(r.route);
  routes.forEach((d, i) => {
    const dp = child(child(path, 'route'), i);
    const rd = obj(d);
    if (!rd) return;
    validateDestination(obj(rd.destination), child(dp, 'destination'), p);
    validateHeaders(obj(rd.headers), child(dp, 'headers'), p);
  });
  checkWeights(routes, child(path, 'route'), p);

  checkDuration(p, child(path, 'timeout'), r.timeout);
  validateRetries(obj(r.retries), child(path, 'retries'), p);
  validateFault(obj(r.fault), child(path, 'fault'), p);
  validateRedirect(obj(r.redirect), child(path, 'redirect'), p);
  validateRewrite(obj(r.rewrite), child(path, 'rewrite'), p);
  validateDirectResponse(obj(r.directResponse), child(path, 'directResponse'), p);
  validateCors(obj(r.corsPolicy), child(path, 'corsPolicy'), p);
  validateHeaders(obj(r.headers), child(path, 'headers'), p);

  if (isSet(r.mirror)) validateDestination(obj(r.mirror), child(path, 'mirror'), p);
  checkPercent(p, child(path, 'mirrorPercentage'), r.mirrorPercentage);
  checkRange(p, child(path, 'mirrorPercent'), r.mirrorPercent, 0, 100);
  checkRange(p, child(path, 'mirror_percent'), r.mirror_percent, 0, 100);
  if (isSet(r.mirror) && isSet(r.mirrors)) p.err(path, 'mirror and mirrors are mutually exclusive; use mirrors');
  arr(r.mirrors).forEach((m, i) => {
    const mp = child(child(path, 'mirrors'), i);
    const mo = obj(m);
    if (!mo) return;
    validateDestination(obj(mo.destination), child(mp, 'destination'), p);
    checkPercent(p, child(mp, 'percentage'), mo.percentage);
  });
  if ((isSet(r.mirror) || isSet(r.mirrors)) && !isSet(r.route)) p.warn(path, 'mirror has no effect without a route');
}

function validateHttpMatch(m: Obj | undefined, path: string, p: Problems): void {
  if (!m) return;
  for (const f of ['uri', 'scheme', 'method', 'authority']) checkStringMatch(p, child(path, f), m[f]);
  for (const f of ['headers', 'withoutHeaders']) {
    const hs = obj(m[f]);
    if (!hs) continue;
    for (const [name, sm] of Object.entries(hs)) {
      const hp = child(child(path, f), name);
      if (name === '') p.err(hp, 'header name must not be empty');
      else if (name !== name.toLowerCase()) p.err(hp, `header name "${name}" must be lowercase`);
      checkStringMatch(p, hp, sm);
    }
  }
  const qs = obj(m.queryParams);
  if (qs) for (const [name, sm] of Object.entries(qs)) {
    const qp = child(child(path, 'queryParams'), name);
    if (name === '') p.err(qp, 'query parameter name must not be empty');
    checkStringMatch(p, qp, sm);
  }
  checkPort(p, child(path, 'port'), m.port, { allowZero: true });
  checkLabels(p, child(path, 'sourceLabels'), m.sourceLabels);
  arr(m.gateways).forEach((g, i) => typeof g === 'string' && checkGatewayName(p, child(child(path, 'gateways'), i), g));
  if (typeof m.sourceNamespace === 'string' && m.sourceNamespace && !isDns1123Label(m.sourceNamespace)) {
    p.err(child(path, 'sourceNamespace'), `invalid namespace "${m.sourceNamespace}"`);
  }
}

export function validateDestination(d: Obj | undefined, path: string, p: Problems): void {
  if (!d) return;
  const host = str(d.host);
  if (host !== undefined) {
    if (host === '' ) p.err(child(path, 'host'), 'destination host is required');
    else if (host === '*') p.err(child(path, 'host'), 'invalid destination host "*": a destination must name one service');
    else {
      const bad = hostProblem(host);
      if (bad) p.err(child(path, 'host'), bad);
    }
  }
  const subset = str(d.subset);
  if (subset && !isDns1123Label(subset)) p.err(child(path, 'subset'), `subset name "${subset}" is invalid (lowercase letters, digits and "-", at most 63)`);
  const port = obj(d.port);
  if (port) checkPort(p, `${path}.port.number`, port.number);
}

/**
 * Istio's weight rule, through the one function the pilot also routes with (src/api/weights.ts):
 * several destinations whose weights total 0 (absent counts as 0) or a negative weight are
 * errors. A sum other than 100 is legal (weights are relative) but usually a mistake.
 */
function checkWeights(routes: unknown[], path: string, p: Problems): void {
  const dests = routes.map((r) => {
    const w = obj(r)?.weight;
    return { weight: typeof w === 'number' ? w : undefined };
  });
  if (dests.length === 0) return;
  const r = destinationWeights(dests);
  if (!r.valid) {
    for (const e of r.errors) p.err(e.index === undefined ? path : child(child(path, e.index), 'weight'), e.message, ERR.INVALID_WEIGHTS);
    return;
  }
  const sum = dests.reduce((a, d) => a + (d.weight ?? 0), 0);
  if (dests.length > 1 && sum !== 100) p.warn(path, `destination weights sum to ${sum}, not 100 (Istio treats them as relative proportions: each destination gets weight/${sum})`);
}

function validateRetries(r: Obj | undefined, path: string, p: Problems): void {
  if (!r) return;
  const attempts = num(r.attempts);
  if (attempts !== undefined && (attempts < 0 || !Number.isInteger(attempts))) p.err(child(path, 'attempts'), `attempts must be a non-negative integer, got ${attempts}`);
  checkDuration(p, child(path, 'perTryTimeout'), r.perTryTimeout);
  checkDuration(p, child(path, 'backoff'), r.backoff);
  const retryOn = str(r.retryOn);
  if (retryOn !== undefined && retryOn !== '') {
    for (const raw of retryOn.split(',')) {
      const v = raw.trim();
      if (RETRY_ON.has(v)) continue;
      if (/^\d+$/.test(v) && Number(v) >= 100 && Number(v) <= 599) continue; // a status code for retriable-status-codes
      p.err(child(path, 'retryOn'), `${v === '' ? 'empty retryOn policy' : `unknown retryOn policy "${v}"`}; use Envoy's retry policies (${[...RETRY_ON].slice(0, 6).join(', ')}, ...) or HTTP status codes`);
    }
  }
}

function validateFault(f: Obj | undefined, path: string, p: Problems): void {
  if (!f) return;
  if (!isSet(f.delay) && !isSet(f.abort)) p.err(path, 'fault must have a delay or an abort');
  const d = obj(f.delay);
  if (d) {
    const dp = child(path, 'delay');
    checkPercent(p, child(dp, 'percentage'), d.percentage);
    checkRange(p, child(dp, 'percent'), d.percent, 0, 100);
    if (isSet(d.exponentialDelay)) p.err(child(dp, 'exponentialDelay'), 'exponentialDelay is not supported; use fixedDelay');
    else if (!isSet(d.fixedDelay)) p.err(child(dp, 'fixedDelay'), 'fixedDelay is required');
    checkDuration(p, child(dp, 'fixedDelay'), d.fixedDelay);
  }
  const a = obj(f.abort);
  if (a) {
    const ap = child(path, 'abort');
    checkPercent(p, child(ap, 'percentage'), a.percentage);
    const kinds = ['httpStatus', 'grpcStatus', 'http2Error'].filter((k) => isSet(a[k]));
    if (kinds.length === 0) p.err(ap, 'abort must set httpStatus or grpcStatus');
    if (isSet(a.http2Error)) p.err(child(ap, 'http2Error'), 'http2Error aborts are not supported; use httpStatus or grpcStatus');
    const s = num(a.httpStatus);
    if (s !== undefined && (s < 200 || s > 599)) p.err(child(ap, 'httpStatus'), `httpStatus ${s} is invalid: must be in the range 200..599`);
  }
}

function validateRedirect(r: Obj | undefined, path: string, p: Problems): void {
  if (!r) return;
  const code = num(r.redirectCode);
  if (code !== undefined && code !== 0 && (code < 300 || code > 399)) p.err(child(path, 'redirectCode'), `${code} is not a valid redirect code, must be 3xx`);
  if (isSet(r.port) && isSet(r.derivePort)) p.err(path, 'port and derivePort are mutually exclusive');
  checkPort(p, child(path, 'port'), r.port, { allowZero: true });
  if (r.uri === '' ) p.err(child(path, 'uri'), 'redirect uri must not be empty when set');
  const scheme = str(r.scheme);
  if (scheme && !/^[a-zA-Z][a-zA-Z0-9+.-]*$/.test(scheme)) p.err(child(path, 'scheme'), `invalid scheme "${scheme}"`);
}

function validateRewrite(r: Obj | undefined, path: string, p: Problems): void {
  if (!r) return;
  if (isSet(r.uri) && isSet(r.uriRegexRewrite)) p.err(path, 'uri and uriRegexRewrite are mutually exclusive');
  const rr = obj(r.uriRegexRewrite);
  if (rr) {
    checkRegex(p, `${path}.uriRegexRewrite.match`, rr.match ?? '');
  }
}

function validateDirectResponse(d: Obj | undefined, path: string, p: Problems): void {
  if (!d) return;
  const s = num(d.status);
  if (s !== undefined && (s < 200 || s > 599)) p.err(child(path, 'status'), `status ${s} is invalid: must be in the range 200..599`);
  const body = obj(d.body);
  if (body && isSet(body.string) && isSet(body.bytes)) p.err(child(path, 'body'), 'string and bytes are mutually exclusive');
}

function validateCors(c: Obj | undefined, path: string, p: Problems): void {
  if (!c) return;
  arr(c.allowOrigins).forEach((o, i) => checkStringMatch(p, child(child(path, 'allowOrigins'), i), o));
  arr(c.allowMethods).forEach((m, i) => {
    if (typeof m === 'string' && !CORS_METHODS.has(m)) p.err(child(child(path, 'allowMethods'), i), `"${m}" is not a supported HTTP method (${[...CORS_METHODS].join(', ')})`);
  });
  for (const f of ['allowHeaders', 'exposeHeaders']) {
    arr(c[f]).forEach((h, i) => {
      if (typeof h === 'string' && !HEADER_NAME.test(h)) p.err(child(child(path, f), i), `invalid header name "${h}"`);
    });
  }
  const ms = checkDuration(p, child(path, 'maxAge'), c.maxAge);
  if (ms !== undefined && ms % 1000 !== 0) p.err(child(path, 'maxAge'), 'maxAge is only accurate to whole seconds');
}

function validateHeaders(h: Obj | undefined, path: string, p: Problems): void {
  if (!h) return;
  for (const side of ['request', 'response']) {
    const ops = obj(h[side]);
    if (!ops) continue;
    for (const op of ['set', 'add']) {
      const m = obj(ops[op]);
      if (m) for (const name of Object.keys(m)) {
        if (!HEADER_NAME.test(name)) p.err(child(child(child(path, side), op), name), `invalid header name "${name}"`);
      }
    }
    arr(ops.remove).forEach((name, i) => {
      if (typeof name === 'string' && !HEADER_NAME.test(name)) p.err(child(child(child(path, side), 'remove'), i), `invalid header name "${name}"`);
    });
  }
}

function validateTlsRoute(r: Obj | undefined, path: string, p: Problems, vsHosts: string[]): void {
  if (!r) return;
  const matches = arr(r.match);
  if (matches.length === 0) p.err(child(path, 'match'), 'TLS route must have at least one match');
  matches.forEach((m, i) => {
    const mp = child(child(path, 'match'), i);
    const mo = obj(m);
    if (!mo) return;
    const sni = arr(mo.sniHosts);
    if (sni.length === 0) p.err(child(mp, 'sniHosts'), 'sniHosts is required in a TLS match');
    sni.forEach((h, j) => {
      const hp = child(child(mp, 'sniHosts'), j);
      const host = checkHost(p, hp, h, 'sniHost');
      if (host && vsHosts.length > 0 && !vsHosts.some((vh) => hostCovers(vh, host))) {
        p.err(hp, `the SNI host ${host} is not a match for any virtual service host`);
      }
    });
    validateL4Match(mo, mp, p);
  });
  validateL4Routes(arr(r.route), child(path, 'route'), p, 'TLS');
}

function validateTcpRoute(r: Obj | undefined, path: string, p: Problems): void {
  if (!r) return;
  arr(r.match).forEach((m, i) => {
    const mo = obj(m);
    if (mo) validateL4Match(mo, child(child(path, 'match'), i), p);
  });
  validateL4Routes(arr(r.route), child(path, 'route'), p, 'TCP');
}

function validateL4Match(m: Obj, path: string, p: Problems): void {
  arr(m.destinationSubnets).forEach((s, i) => {
    if (typeof s === 'string' && !isIPOrCidr(s)) p.err(child(child(path, 'destinationSubnets'), i), `"${s}" is not a valid IP address or CIDR block`);
  });
  if (typeof m.sourceSubnet === 'string' && m.sourceSubnet && !isIPOrCidr(m.sourceSubnet)) p.err(child(path, 'sourceSubnet'), `"${m.sourceSubnet}" is not a valid IP address or CIDR block`);
  checkPort(p, child(path, 'port'), m.port, { allowZero: true });
  checkLabels(p, child(path, 'sourceLabels'), m.sourceLabels);
  arr(m.gateways).forEach((g, i) => typeof g === 'string' && checkGatewayName(p, child(child(path, 'gateways'), i), g));
}

function validateL4Routes(routes: unknown[], path: string, p: Problems, what: string): void {
  if (routes.length === 0) p.err(path, `${what} route must have at least one destination`);
  routes.forEach((r, i) => {
    const ro = obj(r);
    if (ro) validateDestination(obj(ro.destination), child(child(path, i), 'destination'), p);
  });
  checkWeights(routes, path, p);
}

/** Whether `pattern` (possibly `*` or `*.suffix`) covers `host` (possibly itself a wildcard). */
export function hostCovers(pattern: string, host: string): boolean {
  if (pattern === '*' || pattern === host) return true;
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1); // ".example.com"
    const h = host.startsWith('*.') ? host.slice(1) : host;
    return h.endsWith(suffix) && h.length > suffix.length;
  }
  return false;
}
