/**
 * Injection settings from Istio's injection values (the istio-sidecar-injector ConfigMap's
 * `values`, istioctl kube-inject --valuesFile): the fields tsmesh's injector acts on. A field it
 * would not honour is reported, not ignored.
 */
import { parse } from 'yaml';
import { DEFAULT_DISCOVERY_ADDRESS, defaultInjectionSettings, settingsFromMesh, type InjectionSettings } from './settings.ts';

export type ValuesResult = { ok: true; settings: InjectionSettings; warnings: string[] } | { ok: false; error: string };

export function settingsFromValues(text: string, base: InjectionSettings): ValuesResult {
  let doc: any;
  try {
    doc = parse(text);
  } catch (e) {
    return { ok: false, error: `not YAML: ${(e as Error).message.split('\n')[0]}` };
  }
  // The ConfigMap's `values` key holds JSON text; a file may be that text or the ConfigMap itself.
  if (doc?.kind === 'ConfigMap' && typeof doc.data?.values === 'string') doc = parse(doc.data.values);
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
  return { ok: true, settings: s, warnings };
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
