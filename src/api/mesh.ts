/**
 * Istio's MeshConfig: read it from YAML (bare, or wrapped as IstioOperator `spec.meshConfig`,
 * Helm values `meshConfig:`, or the istio ConfigMap's `data.mesh` string), fill Istio's
 * defaults and check the fields tsmesh honours.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { MeshConfig, ValidationError } from './types.ts';
import { hostProblem, isDns1123Label, labelKeyProblem, labelValueProblem, isObj } from './validation/common.ts';
import { child } from './paths.ts';

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
