/**
 * Istio's MeshConfig: read it from YAML (bare, or wrapped as IstioOperator `spec.meshConfig`,
 * Helm values `meshConfig:`, or the istio ConfigMap's `data.mesh` string), fill Istio's
 * defaults and check the fields tsmesh honours.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { MeshConfig, ValidationError } from './types.ts';
import { hostProblem, isDns1123Label, labelKeyProblem, labelValueProblem, isObj, Problems } from './validation/common.ts';
import { validateLocalityLbSetting } from './validation/destinationrule.ts';
import { child } from './paths.ts';
import { durationNanos as durationNanosOf } from './duration.ts';
import { meshNetworksOf } from './mesh_networks.ts';

export function defaultMeshConfig(): MeshConfig {
  return {
    trustDomain: 'cluster.local',
    rootNamespace: 'istio-system',
    outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
    enableAutoMtls: true,
    accessLogEncoding: 'TEXT',
  };
}

export interface MeshConfigResult {
  mesh: MeshConfig;
  errors: ValidationError[];
}

/** Parses mesh config text. On errors, `mesh` still holds the defaults merged with what was usable. */
export function parseMeshConfig(text: string, file?: string): MeshConfigResult {
  const errors: ValidationError[] = [];
  const fail = (path: string, message: string) => errors.push({ file, kind: 'MeshConfig', path, message });
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    fail('', `YAML syntax error: ${(e as Error).message.split('\n')[0]}`);
    return { mesh: defaultMeshConfig(), errors };
  }
  const raw = unwrap(doc, fail);
  if (raw === undefined) return { mesh: defaultMeshConfig(), errors };
  const mesh = { ...defaultMeshConfig(), ...raw } as MeshConfig & Record<string, unknown>;
  // An explicit `null` means "unset": keep the default.
  for (const [k, v] of Object.entries(defaultMeshConfig())) if ((mesh as any)[k] === null || (mesh as any)[k] === undefined) (mesh as any)[k] = v;
  validateMesh(mesh, fail);
  // Istio keeps MeshNetworks beside MeshConfig, not in it: read from the document, never from `raw`.
  delete mesh.meshNetworks;
  const networks = meshNetworksOf(doc, parse, fail);
  if (networks) mesh.meshNetworks = networks;
  return { mesh, errors };
}

export function loadMeshConfig(path: string): MeshConfigResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return { mesh: defaultMeshConfig(), errors: [{ file: path, kind: 'MeshConfig', path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }] };
  }
  return parseMeshConfig(text, path);
}

/** Finds the MeshConfig object inside the wrappers Istio installs use. */
function unwrap(doc: unknown, fail: (path: string, message: string) => void): Record<string, unknown> | undefined {
  if (doc === null || doc === undefined) return {};
  if (!isObj(doc)) {
    fail('', 'mesh config must be a YAML mapping');
    return undefined;
  }
  if (doc.kind === 'IstioOperator') return pick(doc.spec?.meshConfig, 'spec.meshConfig', fail);
  if (doc.kind === 'ConfigMap') {
    const mesh = doc.data?.mesh;
    if (mesh === undefined) return {};
    if (typeof mesh !== 'string') {
      fail('data.mesh', 'must be a string holding MeshConfig YAML');
      return undefined;
    }
    try {
      return pick(parse(mesh), 'data.mesh', fail);
    } catch (e) {
      fail('data.mesh', `YAML syntax error: ${(e as Error).message.split('\n')[0]}`);
      return undefined;
    }
  }
  if ('meshConfig' in doc) return pick(doc.meshConfig, 'meshConfig', fail);
  return doc;
}

function pick(v: unknown, path: string, fail: (path: string, message: string) => void): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) {
    fail(path, 'must be a mapping');
    return undefined;
  }
  return v;
}

const PATH_NORMALIZATIONS = ['DEFAULT', 'NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'];
const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

function validateMesh(m: Record<string, any>, fail: (path: string, message: string) => void): void {
  if (typeof m.trustDomain !== 'string' || m.trustDomain === '') fail('trustDomain', 'must be a non-empty string');
  else if (hostProblem(m.trustDomain, { allowIP: false }) || m.trustDomain.includes('*')) fail('trustDomain', `invalid trust domain "${m.trustDomain}"`);
  if (typeof m.rootNamespace !== 'string' || !isDns1123Label(m.rootNamespace)) fail('rootNamespace', `must be a namespace name, got ${JSON.stringify(m.rootNamespace)}`);
  const otp = m.outboundTrafficPolicy;
  if (!isObj(otp)) fail('outboundTrafficPolicy', 'must be a mapping with mode');
  else if (otp.mode === undefined) otp.mode = 'ALLOW_ANY';
  else if (otp.mode !== 'ALLOW_ANY' && otp.mode !== 'REGISTRY_ONLY') fail('outboundTrafficPolicy.mode', `unknown value ${JSON.stringify(otp.mode)}; must be ALLOW_ANY or REGISTRY_ONLY`);
  for (const f of ['enableAutoMtls', 'enableTracing']) {
    if (m[f] !== undefined && typeof m[f] !== 'boolean') fail(f, `must be true or false, got ${JSON.stringify(m[f])}`);
  }
  if (m.accessLogFile !== undefined && typeof m.accessLogFile !== 'string') fail('accessLogFile', 'must be a string (a path, or /dev/stdout)');
  if (m.accessLogEncoding !== 'TEXT' && m.accessLogEncoding !== 'JSON') fail('accessLogEncoding', `unknown value ${JSON.stringify(m.accessLogEncoding)}; must be TEXT or JSON`);
  const pn = m.pathNormalization;
  if (pn !== undefined && pn !== null) {
    if (!isObj(pn)) fail('pathNormalization', 'must be a mapping with normalization');
    else if (pn.normalization !== undefined && !PATH_NORMALIZATIONS.includes(pn.normalization)) {
      fail('pathNormalization.normalization', `unknown value ${JSON.stringify(pn.normalization)}; must be one of ${PATH_NORMALIZATIONS.join(', ')}`);
    }
  }
  if (m.localityLbSetting !== undefined && m.localityLbSetting !== null) {
    if (!isObj(m.localityLbSetting)) fail('localityLbSetting', 'must be a mapping (enabled, distribute, failover, failoverPriority)');
    else {
      const p = new Problems();
      validateLocalityLbSetting(m.localityLbSetting, 'localityLbSetting', p);
      for (const x of p.list) fail(x.path, x.message);
    }
  }
  if (m.accessLogFormat !== undefined && typeof m.accessLogFormat !== 'string') fail('accessLogFormat', 'must be a string: an Envoy format string, or a JSON object written as text when accessLogEncoding is JSON');

  const dc = m.defaultConfig;
  if (dc !== undefined && dc !== null) {
    if (!isObj(dc)) fail('defaultConfig', 'must be a mapping');
    else {
      if (dc.discoveryAddress !== undefined && (typeof dc.discoveryAddress !== 'string' || !/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(dc.discoveryAddress))) {
        fail('defaultConfig.discoveryAddress', `must be host:port, got ${JSON.stringify(dc.discoveryAddress)}`);
      }
      if (dc.proxyMetadata !== undefined) {
        if (!isObj(dc.proxyMetadata)) fail('defaultConfig.proxyMetadata', 'must be a map of strings');
        else for (const [k, v] of Object.entries(dc.proxyMetadata)) if (typeof v !== 'string') fail(child('defaultConfig.proxyMetadata', k), `must be a string, got ${JSON.stringify(v)} (quote it)`);
      }
      if (dc.holdApplicationUntilProxyStarts !== undefined && typeof dc.holdApplicationUntilProxyStarts !== 'boolean') fail('defaultConfig.holdApplicationUntilProxyStarts', 'must be true or false');
      const n = isObj(dc.gatewayTopology) ? dc.gatewayTopology.numTrustedProxies : undefined;
      if (n !== undefined && !(Number.isInteger(n) && n >= 0)) fail('defaultConfig.gatewayTopology.numTrustedProxies', `must be a whole number of proxies, got ${JSON.stringify(n)}`);
    }
  }

  if (m.discoverySelectors !== undefined && m.discoverySelectors !== null) {
    if (!Array.isArray(m.discoverySelectors)) fail('discoverySelectors', 'must be a list of label selectors');
    else m.discoverySelectors.forEach((s: unknown, i: number) => {
      const sp = child('discoverySelectors', i);
      if (!isObj(s)) return fail(sp, 'must be a label selector (matchLabels / matchExpressions)');
      if (s.matchLabels !== undefined) {
        if (!isObj(s.matchLabels)) fail(child(sp, 'matchLabels'), 'must be a map of strings');
        else for (const [k, v] of Object.entries(s.matchLabels)) {
          const bad = labelKeyProblem(k) ?? (typeof v === 'string' ? labelValueProblem(v) : `value must be a string, got ${JSON.stringify(v)}`);
          if (bad) fail(child(child(sp, 'matchLabels'), k), bad);
        }
      }
      if (s.matchExpressions !== undefined) {
        if (!Array.isArray(s.matchExpressions)) fail(child(sp, 'matchExpressions'), 'must be a list');
        else s.matchExpressions.forEach((e: any, j: number) => {
          const ep = child(child(sp, 'matchExpressions'), j);
          if (!isObj(e) || typeof e.key !== 'string' || e.key === '') return fail(ep, 'key is required');
          if (!SELECTOR_OPERATORS.includes(e.operator)) return fail(child(ep, 'operator'), `unknown operator ${JSON.stringify(e.operator)}; must be one of ${SELECTOR_OPERATORS.join(', ')}`);
          const hasValues = Array.isArray(e.values) && e.values.length > 0;
          if ((e.operator === 'In' || e.operator === 'NotIn') && !hasValues) fail(child(ep, 'values'), `values are required for operator ${e.operator}`);
          if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && hasValues) fail(child(ep, 'values'), `values must be empty for operator ${e.operator}`);
        });
      }
    });
  }

  const names = new Set<string>();
  if (m.extensionProviders !== undefined && m.extensionProviders !== null) {
    if (!Array.isArray(m.extensionProviders)) fail('extensionProviders', 'must be a list');
    else m.extensionProviders.forEach((p: unknown, i: number) => {
      const pp = child('extensionProviders', i);
      if (!isObj(p)) return fail(pp, 'must be a mapping');
      if (typeof p.name !== 'string' || p.name === '') fail(child(pp, 'name'), 'provider name is required');
      else if (names.has(p.name)) fail(child(pp, 'name'), `duplicate extension provider name "${p.name}"`);
      else names.add(p.name);
      const kinds = Object.keys(p).filter((k) => k !== 'name');
      if (kinds.length !== 1) fail(pp, `an extension provider needs exactly one provider type (e.g. envoyExtAuthzHttp, zipkin, envoyFileAccessLog)${kinds.length ? `, found ${kinds.join(', ')}` : ''}`);
      for (const k of kinds) {
        if (k === 'envoyExtAuthzHttp' || k === 'envoyExtAuthzGrpc') {
          for (const e of extAuthzProviderProblems(k, p[k])) fail(e.field.split('.').filter(Boolean).reduce((at, f) => child(at, f), child(pp, k)), e.message);
        }
      }
    });
  }
  const dp = m.defaultProviders;
  if (dp !== undefined && dp !== null) {
    if (!isObj(dp)) fail('defaultProviders', 'must be a mapping');
    else for (const f of ['tracing', 'metrics', 'accessLogging']) {
      if (dp[f] === undefined) continue;
      if (!Array.isArray(dp[f]) || dp[f].some((x: unknown) => typeof x !== 'string')) fail(child('defaultProviders', f), 'must be a list of provider names');
    }
  }
}

// ---------- external authorization providers (AuthorizationPolicy CUSTOM) ----------

export type ExtAuthzKind = 'envoyExtAuthzHttp' | 'envoyExtAuthzGrpc';

const HTTP_PROVIDER_FIELDS = ['service', 'port', 'timeout', 'pathPrefix', 'failOpen', 'statusOnError', 'includeRequestHeadersInCheck', 'includeHeadersInCheck', 'includeAdditionalHeadersInCheck', 'headersToUpstreamOnAllow', 'headersToDownstreamOnDeny', 'headersToDownstreamOnAllow', 'includeRequestBodyInCheck'];
const GRPC_PROVIDER_FIELDS = ['service', 'port', 'timeout', 'failOpen', 'statusOnError', 'includeRequestBodyInCheck'];
const HEADER_LISTS = ['includeRequestHeadersInCheck', 'includeHeadersInCheck', 'headersToUpstreamOnAllow', 'headersToDownstreamOnDeny', 'headersToDownstreamOnAllow'];

/** A provider's port: a number or a numeric string (Istio's samples quote it), 1..65535; else undefined. */
export function extAuthzPort(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

/**
 * What is wrong with an envoyExtAuthzHttp / envoyExtAuthzGrpc provider, field by field (Istio's
 * ValidateExtensionProviderEnvoyExtAuthz* plus the translation's own checks). The control plane
 * reports these at load and pilot keeps a CUSTOM policy naming such a provider fail-closed.
 */
/** `field` is a dotted path below the provider ('' for the provider itself). */
export function extAuthzProviderProblems(kind: ExtAuthzKind, p: unknown): Array<{ field: string; message: string }> {
  const out: Array<{ field: string; message: string }> = [];
  const bad = (field: string, message: string) => out.push({ field, message });
  if (!isObj(p)) return [{ field: '', message: 'must be a mapping' }];
  const known = kind === 'envoyExtAuthzHttp' ? HTTP_PROVIDER_FIELDS : GRPC_PROVIDER_FIELDS;
  for (const k of Object.keys(p)) if (!known.includes(k)) bad(k, `unknown field; ${kind} has ${known.join(', ')}`);
  if (typeof p.service !== 'string' || p.service.trim() === '') bad('service', 'required: the authorizer\'s service, as <namespace>/<hostname> or <hostname>');
  else if (p.service.split('/').length > 2 || /\s/.test(p.service) || p.service.endsWith('/') || p.service.startsWith('/')) bad('service', `must be <namespace>/<hostname> or <hostname>, got ${JSON.stringify(p.service)}`);
  if (extAuthzPort(p.port) === undefined) bad('port', `must be a port number in [1, 65535], got ${JSON.stringify(p.port)}`);
  if (p.timeout !== undefined) {
    const ns = typeof p.timeout === 'string' ? durationNanosOf(p.timeout) : undefined;
    if (ns === undefined || ns <= 0n) bad('timeout', `must be a positive duration such as "10s", got ${JSON.stringify(p.timeout)}`);
  }
  if (p.failOpen !== undefined && typeof p.failOpen !== 'boolean') bad('failOpen', 'must be true or false');
  if (p.statusOnError !== undefined && p.statusOnError !== '') {
    const code = Number(p.statusOnError);
    if (!/^\d{3}$/.test(String(p.statusOnError)) || code < 200 || code > 599) bad('statusOnError', `must be an HTTP status code such as "503", got ${JSON.stringify(p.statusOnError)}`);
  }
  if (kind === 'envoyExtAuthzHttp') {
    if (p.pathPrefix !== undefined && (typeof p.pathPrefix !== 'string' || (p.pathPrefix !== '' && !p.pathPrefix.startsWith('/')))) bad('pathPrefix', `must begin with "/", got ${JSON.stringify(p.pathPrefix)}`);
    for (const f of HEADER_LISTS) {
      const v = p[f];
      if (v === undefined || v === null) continue;
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) bad(f, 'must be a list of header names');
      else if (v.includes('*')) bad(f, 'a single wildcard ("*") is not supported: use a prefix ("x-*") or a suffix ("*-id") match');
    }
    const add = p.includeAdditionalHeadersInCheck;
    if (add !== undefined && add !== null && (!isObj(add) || Object.values(add).some((x) => typeof x !== 'string'))) bad('includeAdditionalHeadersInCheck', 'must be a map of header name to value (strings)');
  }
  const body = p.includeRequestBodyInCheck;
  if (body !== undefined && body !== null) {
    if (!isObj(body)) bad('includeRequestBodyInCheck', 'must be a mapping (maxRequestBytes, allowPartialMessage, packAsBytes)');
    else {
      for (const k of Object.keys(body)) if (!['maxRequestBytes', 'allowPartialMessage', 'packAsBytes'].includes(k)) bad(`includeRequestBodyInCheck.${k}`, 'unknown field; includeRequestBodyInCheck has maxRequestBytes, allowPartialMessage, packAsBytes');
      const n = body.maxRequestBytes;
      if (!(Number.isInteger(n) && n > 0 && n <= 0xffffffff)) bad('includeRequestBodyInCheck.maxRequestBytes', `must be a number of bytes greater than 0, got ${JSON.stringify(n)}`);
      for (const f of ['allowPartialMessage', 'packAsBytes']) if (body[f] !== undefined && typeof body[f] !== 'boolean') bad(`includeRequestBodyInCheck.${f}`, 'must be true or false');
    }
  }
  return out;
}
