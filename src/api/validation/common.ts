/**
 * Building blocks shared by the per-kind semantic checks: a problem collector, defensive
 * accessors (input may already have failed the schema) and Istio's value rules (hosts,
 * durations, RE2 regexes, ports, label selectors, exportTo).
 */
import { isIP } from 'node:net';
import { RE2JS } from 're2js';
import { durationMsOf } from '../duration.ts';
import { ERR, type ErrorCode } from '../errors.ts';
import { child } from '../paths.ts';

export { child };

/** One finding; errors carry a stable code (ERR.INVALID_RESOURCE unless a more precise one fits). */
export interface Problem {
  path: string;
  message: string;
  severity?: 'warning';
  code?: ErrorCode;
}

/** Collects problems for one resource. */
export class Problems {
  readonly list: Problem[] = [];
  err(path: string, message: string, code: ErrorCode = ERR.INVALID_RESOURCE): void {
    this.list.push({ path, message, code });
  }
  warn(path: string, message: string, code?: ErrorCode): void {
    this.list.push({ path, message, severity: 'warning', ...(code ? { code } : {}) });
  }
}

export type Obj = Record<string, any>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
/** The value when it is an object, else undefined (a wrong type was already reported by the schema). */
export function obj(v: unknown): Obj | undefined {
  return isObj(v) ? v : undefined;
}
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
/** Set means present with a non-empty value (proto3 semantics: "" and [] are unset). */
export function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

// ---------- names ----------

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
// Istio's host labels allow upper case (hostnames are case-insensitive).
const HOST_LABEL = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}
export function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}
export function isDns1035Label(s: string): boolean {
  return s.length <= 63 && DNS1035_LABEL.test(s);
}

/** Port names as Istio checks them (ServiceEntry / WorkloadEntry / Gateway). */
export function isPortName(s: string): boolean {
  return s.length < 63 && HOST_LABEL.test(s);
}

/**
 * Istio's DNS name rule with an optional leading wildcard: `*`, `*.example.com`, `reviews`,
 * `reviews.default.svc.cluster.local`. Returns the reason it is invalid, or undefined.
 */
export function hostProblem(host: string, opts: { allowIP?: boolean } = {}): string | undefined {
  if (host === '') return 'host must not be empty';
  if (host === '*') return undefined;
  if (opts.allowIP !== false && isIP(host)) return undefined;
  if (host.length > 255) return `domain name "${host}" too long (max 255)`;
  let rest = host;
  if (host.startsWith('*.')) rest = host.slice(2);
  if (rest.includes('*')) return `domain name "${host}" invalid: a wildcard is only allowed as the leftmost label ("*" or "*.")`;
  for (const label of rest.split('.')) {
    if (label.length > 63) return `domain name "${host}" invalid (label "${label}" too long, max 63)`;
    if (!HOST_LABEL.test(label)) return `domain name "${host}" invalid (label "${label}" invalid)`;
  }
  return undefined;
}

export function checkHost(p: Problems, path: string, v: unknown, what = 'host'): string | undefined {
  const h = str(v);
  if (h === undefined) return undefined;
  if (h === '') {
    p.err(path, `${what} must not be empty`);
    return undefined;
  }
  const bad = hostProblem(h);
  if (bad) p.err(path, bad);
  return h;
}

/** Gateway / Sidecar host form `namespace/dnsName`: namespace is `*`, `.`, `~` or a namespace name. */
export function checkNamespacedHost(p: Problems, path: string, v: unknown, opts: { requireNamespace: boolean; allowNone: boolean }): void {
  const h = str(v);
  if (h === undefined) return;
  const slash = h.indexOf('/');
  if (slash < 0) {
    if (opts.requireNamespace) p.err(path, `host "${h}" must be of the form namespace/dnsName (e.g. "*/reviews.default.svc.cluster.local" or "./*")`);
    else checkHost(p, path, h);
    return;
  }
  const ns = h.slice(0, slash);
  const dns = h.slice(slash + 1);
  if (!(ns === '*' || ns === '.' || (ns === '~' && opts.allowNone) || isDns1123Label(ns))) {
    p.err(path, `host "${h}": namespace "${ns}" must be "*", "."${opts.allowNone ? ', "~"' : ''} or a valid namespace name`);
  }
  if (dns === '') p.err(path, `host "${h}": dnsName after "/" must not be empty`);
  else {
    const bad = hostProblem(dns);
    if (bad) p.err(path, bad);
  }
}

// ---------- numbers ----------

export function checkPort(p: Problems, path: string, v: unknown, opts: { allowZero?: boolean } = {}): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = num(v);
  if (n === undefined || !Number.isInteger(n)) return undefined; // type reported by the schema
  if (opts.allowZero && n === 0) return n;
  if (n < 1 || n > 65535) p.err(path, `port number ${n} must be in the range 1..65535`);
  return n;
}

export function checkRange(p: Problems, path: string, v: unknown, min: number, max: number): void {
  const n = num(v);
  if (n === undefined) return;
  if (n < min || n > max) p.err(path, `must be in the range ${min}..${max}, got ${n}`);
}

export function checkNonNegative(p: Problems, path: string, v: unknown): void {
  const n = num(v);
  if (n !== undefined && n < 0) p.err(path, `must be non-negative, got ${n}`);
}

/** Istio's Percent message: `{value: 0..100}`. */
export function checkPercent(p: Problems, path: string, v: unknown): void {
  const o = obj(v);
  if (o) checkRange(p, child(path, 'value'), o.value, 0, 100);
}

// ---------- durations ----------

/**
 * A duration field: read by the one duration reader the pilot also translates with (so what is
 * accepted here is exactly what reaches the proxy), and at least 1ms (the CRDs' rule).
 */
export function checkDuration(p: Problems, path: string, v: unknown, opts: { min?: number } = {}): number | undefined {
  if (v === undefined || v === null) return undefined;
  const s = str(v);
  if (s === undefined) return undefined;
  const ms = durationMsOf(s);
  if (ms === undefined) {
    p.err(path, `invalid duration "${s}": use a number with a unit, e.g. "10s", "0.5s", "250ms", "1m30s"`, ERR.INVALID_DURATION);
    return undefined;
  }
  const min = opts.min ?? 1;
  if (ms < min) p.err(path, `duration "${s}" must be a valid duration greater than ${min === 1 ? '1ms' : `${min}ms`}`, ERR.INVALID_DURATION);
  return ms;
}

// ---------- regexes ----------

const regexCache = new Map<string, string | null>();

/** Why `pattern` is not a valid RE2 regex (Envoy's engine), or undefined. Cached: configs repeat patterns. */
export function re2Problem(pattern: string): string | undefined {
  let r = regexCache.get(pattern);
  if (r === undefined) {
    try {
      RE2JS.compile(pattern);
      r = null;
    } catch (e) {
      r = (e as Error).message;
    }
    if (regexCache.size > 10_000) regexCache.clear();
    regexCache.set(pattern, r);
  }
  return r ?? undefined;
}

export function checkRegex(p: Problems, path: string, v: unknown): void {
  const s = str(v);
  if (s === undefined) return;
  if (s === '') {
    p.err(path, 'regex string match should not be empty', ERR.INVALID_REGEX);
    return;
  }
  const bad = re2Problem(s);
  if (bad) p.err(path, `invalid RE2 regex ${JSON.stringify(s)}: ${bad.replace(/^error parsing regexp: /, '')}`, ERR.INVALID_REGEX);
}

/** Istio's StringMatch: exactly one of exact, prefix, regex. */
export function checkStringMatch(p: Problems, path: string, v: unknown): void {
  const m = obj(v);
  if (!m) return;
  const set = ['exact', 'prefix', 'regex'].filter((k) => m[k] !== undefined);
  if (set.length > 1) p.err(path, `exact, prefix and regex are mutually exclusive (found ${set.join(' and ')})`);
  if (m.regex !== undefined) checkRegex(p, child(path, 'regex'), m.regex);
}

// ---------- labels and selectors ----------

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function labelKeyProblem(k: string): string | undefined {
  if (k === '') return 'label key must not be empty';
  if (k.includes('*')) return 'wildcard not allowed in label key match';
  const slash = k.indexOf('/');
  const name = slash < 0 ? k : k.slice(slash + 1);
  if (slash >= 0 && !isDns1123Subdomain(k.slice(0, slash))) return `invalid label key "${k}": prefix must be a DNS subdomain`;
  if (name.length > 63 || !LABEL_NAME.test(name)) return `invalid label key "${k}"`;
  return undefined;
}

export function labelValueProblem(v: string): string | undefined {
  if (v.includes('*')) return 'wildcard not allowed in label value match';
  if (v === '') return undefined;
  if (v.length > 63 || !LABEL_NAME.test(v)) return `invalid label value "${v}"`;
  return undefined;
}

export function checkLabels(p: Problems, path: string, v: unknown): void {
  const o = obj(v);
  if (!o) return;
  for (const [k, val] of Object.entries(o)) {
    const kp = labelKeyProblem(k);
    if (kp) p.err(child(path, k), kp);
    if (typeof val === 'string') {
      const vp = labelValueProblem(val);
      if (vp) p.err(child(path, k), vp);
    }
  }
}

/** Istio's WorkloadSelector / selector: `{matchLabels | labels: {...}}`. */
export function checkSelector(p: Problems, path: string, v: unknown, field: 'matchLabels' | 'labels'): void {
  const o = obj(v);
  if (o) checkLabels(p, child(path, field), o[field]);
}

/** Policies take `selector` or `targetRef`/`targetRefs`, never both (the CRDs' rule). */
export function checkSelectorXorTargetRef(p: Problems, spec: Obj, selectorField = 'selector'): void {
  const n = (isSet(spec[selectorField]) ? 1 : 0) + (isSet(spec.targetRef) ? 1 : 0) + (isSet(spec.targetRefs) ? 1 : 0);
  if (n > 1) p.err('spec', `only one of targetRefs or ${selectorField} can be set`);
}

// ---------- visibility ----------

export function checkExportTo(p: Problems, path: string, v: unknown): void {
  const list = arr(v).filter((x): x is string => typeof x === 'string');
  const seen = new Set<string>();
  list.forEach((e, i) => {
    const ep = child(path, i);
    if (seen.has(e)) p.err(ep, `duplicate exportTo value "${e}"`);
    seen.add(e);
    if (!(e === '.' || e === '*' || e === '~' || isDns1123Label(e))) p.err(ep, `exportTo value "${e}" must be ".", "*", "~" or a namespace name`);
  });
  if (list.length > 1 && (seen.has('*') || seen.has('~'))) {
    p.err(path, `exportTo "${seen.has('*') ? '*' : '~'}" cannot be combined with other values`);
  }
}

/** An IP address or CIDR block. */
export function isIPOrCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isIP(s) !== 0;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const fam = isIP(ip);
  if (fam === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (fam === 4 ? 32 : 128);
}

/** Istio's protocol names, case-insensitive, as accepted on ports. */
export const PROTOCOLS = ['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'REDIS', 'MYSQL', 'TCP', 'TLS', 'UDP'];

export function checkProtocol(p: Problems, path: string, v: unknown, allowed = PROTOCOLS): void {
  const s = str(v);
  if (s === undefined) return;
  if (!allowed.includes(s.toUpperCase())) p.err(path, `invalid protocol "${s}"; supported protocols are ${allowed.join(', ')}`);
}
