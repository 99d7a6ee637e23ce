/**
 * Injection settings from Istio's injection values (the istio-sidecar-injector ConfigMap's
 * `values`, istioctl kube-inject --valuesFile): the fields tsmesh's injector acts on. A field it
 * would not honour is reported by its path in a warning, not ignored silently: accepted means
 * enforced.
 */
import { parse } from 'yaml';
import { DEFAULT_DISCOVERY_ADDRESS, defaultInjectionSettings, settingsFromMesh, type InjectionSettings, type LabelSelector } from './settings.ts';

/** Values paths the injector acts on; a path listed covers everything under it. */
const CONSUMED = [
  'global.proxy.image',
  'global.proxy.imagePullPolicy',
  'global.proxy.resources',
  'global.proxy.includeIPRanges',
  'global.proxy.excludeIPRanges',
  'global.proxy.includeInboundPorts',
  'global.proxy.excludeInboundPorts',
  'global.proxy.holdApplicationUntilProxyStarts',
  'global.hub',
  'global.tag',
  'global.istioNamespace',
  'global.meshID',
  'global.multiCluster.clusterName',
  'istio_cni.enabled',
  'sidecarInjectorWebhook.rewriteAppHTTPProbe',
  'sidecarInjectorWebhook.neverInjectSelector',
  'sidecarInjectorWebhook.alwaysInjectSelector',
  'pilot.env.ENABLE_NATIVE_SIDECARS',
  'revision',
];
/** Most names a warning lists before it says how many more. */
const MAX_LISTED = 20;

export type ValuesResult = { ok: true; settings: InjectionSettings; warnings: string[] } | { ok: false; error: string };

export function settingsFromValues(text: string, base: InjectionSettings): ValuesResult {
  let doc: any;
  try {
    doc = parse(text);
  } catch (e) {
    return { ok: false, error: `not YAML: ${(e as Error).message.split('\n')[0]}` };
  }
  // The ConfigMap's `values` key holds JSON text; a file may be that text or the ConfigMap itself.
  if (doc?.kind === 'ConfigMap' && typeof doc.data?.values === 'string') {
    try {
      doc = parse(doc.data.values);
    } catch (e) {
      return { ok: false, error: `ConfigMap data.values: not JSON or YAML: ${(e as Error).message.split('\n')[0]}` };
    }
  }
  if (typeof doc !== 'object' || doc === null) return { ok: false, error: 'expected injection values (global:, sidecarInjectorWebhook:, pilot:)' };
  const s: InjectionSettings = structuredClone(base);
  const warnings: string[] = [];
  const proxy = doc.global?.proxy ?? {};
  const str = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
  if (typeof proxy.image === 'string' && /[:/]/.test(proxy.image)) s.image = proxy.image;
  else if (doc.global?.hub || doc.global?.tag || proxy.image) warnings.push('global.hub/tag/proxy.image name Istio\'s proxyv2 image; tsmesh runs its own: give global.proxy.image as a full image reference (repo/name:tag)');
  if (typeof proxy.imagePullPolicy === 'string') s.imagePullPolicy = proxy.imagePullPolicy;
  if (proxy.resources) s.resources = { requests: { ...(proxy.resources.requests ?? {}) }, limits: { ...(proxy.resources.limits ?? {}) } };
  s.includeIPRanges = str(proxy.includeIPRanges) ?? s.includeIPRanges;
  s.excludeIPRanges = str(proxy.excludeIPRanges) ?? s.excludeIPRanges;
  s.includeInboundPorts = str(proxy.includeInboundPorts) ?? s.includeInboundPorts;
  s.excludeInboundPorts = str(proxy.excludeInboundPorts) ?? s.excludeInboundPorts;
  if (typeof proxy.holdApplicationUntilProxyStarts === 'boolean') s.holdApplicationUntilProxyStarts = proxy.holdApplicationUntilProxyStarts;
  if (typeof doc.istio_cni?.enabled === 'boolean') s.cni = doc.istio_cni.enabled;
  if (typeof doc.sidecarInjectorWebhook?.rewriteAppHTTPProbe === 'boolean') s.rewriteAppProbes = doc.sidecarInjectorWebhook.rewriteAppHTTPProbe;
  if (typeof doc.revision === 'string' && doc.revision) s.revision = doc.revision;
  // Istio's default discoveryAddress: istiod[-<rev>].<istioNamespace>.svc:15012 (a mesh config's own wins).
  const ns = typeof doc.global?.istioNamespace === 'string' && doc.global.istioNamespace ? doc.global.istioNamespace : 'istio-system';
  if (base.discoveryAddress === DEFAULT_DISCOVERY_ADDRESS) s.discoveryAddress = `istiod${s.revision !== 'default' ? `-${s.revision}` : ''}.${ns}.svc:15012`;
  if (typeof doc.global?.meshID === 'string' && doc.global.meshID) s.meshId = doc.global.meshID;
  if (typeof doc.global?.multiCluster?.clusterName === 'string' && doc.global.multiCluster.clusterName) s.clusterId = doc.global.multiCluster.clusterName;
  const native = doc.pilot?.env?.ENABLE_NATIVE_SIDECARS;
  if (native !== undefined) s.nativeSidecars = String(native) === 'true';
  for (const which of ['neverInjectSelector', 'alwaysInjectSelector'] as const) {
    const v = doc.sidecarInjectorWebhook?.[which];
    if (v === undefined || v === null) continue;
    const r = selectors(v, `sidecarInjectorWebhook.${which}`);
    if (typeof r === 'string') return { ok: false, error: r };
    s[which] = r;
  }
  const ignored = unconsumedPaths(doc);
  if (ignored.length) {
    const listed = ignored.slice(0, MAX_LISTED).join(', ') + (ignored.length > MAX_LISTED ? ` and ${ignored.length - MAX_LISTED} more` : '');
    warnings.push(`not acted on by tsmesh's injector (pods are injected as if unset): ${listed}`);
  }
  return { ok: true, settings: s, warnings };
}

/** A list of Kubernetes LabelSelectors, or a message naming what is wrong. */
function selectors(v: unknown, path: string): LabelSelector[] | string {
  if (!Array.isArray(v)) return `${path}: expected a list of label selectors (matchLabels / matchExpressions)`;
  const out: LabelSelector[] = [];
  for (const [i, sel] of v.entries()) {
    if (typeof sel !== 'object' || sel === null || Array.isArray(sel)) return `${path}[${i}]: expected a label selector`;
    const { matchLabels, matchExpressions, ...rest } = sel as Record<string, unknown>;
    if (Object.keys(rest).length) return `${path}[${i}]: unknown field ${Object.keys(rest)[0]} (a label selector has matchLabels and matchExpressions)`;
    if (matchLabels !== undefined && (typeof matchLabels !== 'object' || matchLabels === null || Object.values(matchLabels).some((x) => typeof x !== 'string'))) return `${path}[${i}].matchLabels: expected a map of strings`;
    const exprs = matchExpressions ?? [];
    if (!Array.isArray(exprs)) return `${path}[${i}].matchExpressions: expected a list`;
    for (const [j, e] of exprs.entries()) {
      if (typeof e?.key !== 'string' || !['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e?.operator)) return `${path}[${i}].matchExpressions[${j}]: expected {key, operator: In|NotIn|Exists|DoesNotExist, values}`;
      if (e.values !== undefined && (!Array.isArray(e.values) || e.values.some((x: unknown) => typeof x !== 'string'))) return `${path}[${i}].matchExpressions[${j}].values: expected a list of strings`;
    }
    out.push({ ...(matchLabels ? { matchLabels: matchLabels as Record<string, string> } : {}), ...(exprs.length ? { matchExpressions: exprs } : {}) });
  }
  return out;
}

/** Every leaf of the values document (dotted path) that no CONSUMED path covers. */
function unconsumedPaths(doc: unknown, prefix = ''): string[] {
  if (prefix && CONSUMED.some((c) => prefix === c || prefix.startsWith(`${c}.`))) return [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return prefix ? [prefix] : [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(doc)) out.push(...unconsumedPaths(v, prefix ? `${prefix}.${k}` : k));
  return out;
}

/** Istio's ENABLE_NATIVE_SIDECARS from the environment: "false" for clusters before 1.29. */
export function nativeSidecarsFromEnv(env: NodeJS.ProcessEnv, def: boolean): boolean {
  const v = env.ENABLE_NATIVE_SIDECARS;
  return v === undefined || v === '' ? def : v === 'true';
}

export interface SettingsSources {
  /** The mesh config (the istio ConfigMap's `mesh`, or --meshConfigFile). */
  mesh?: import('../../api/types.ts').MeshConfig;
  /** Injection values text (the istio-sidecar-injector ConfigMap's `values`, or --valuesFile). */
  values?: string;
  /** The revision the control plane serves (overrides the values'). */
  revision?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The one way injection settings are put together, for kube-inject and the webhook alike:
 * Istio's defaults, ENABLE_NATIVE_SIDECARS, the mesh config, then the injection values.
 */
export function resolveInjectionSettings(src: SettingsSources): ValuesResult {
  let s = defaultInjectionSettings();
  s.nativeSidecars = nativeSidecarsFromEnv(src.env ?? {}, s.nativeSidecars);
  if (src.revision) s.revision = src.revision;
  if (src.mesh) s = settingsFromMesh(src.mesh, s);
  let warnings: string[] = [];
  if (src.values !== undefined) {
    const v = settingsFromValues(src.values, s);
    if (!v.ok) return v;
    s = v.settings;
    warnings = v.warnings;
  }
  if (src.revision) s.revision = src.revision;
  // A revision's own istiod (istiod-<rev>), unless something named the address.
  if (s.revision !== 'default' && s.discoveryAddress === DEFAULT_DISCOVERY_ADDRESS) s.discoveryAddress = `istiod-${s.revision}.istio-system.svc:15012`;
  return { ok: true, settings: s, warnings };
}
