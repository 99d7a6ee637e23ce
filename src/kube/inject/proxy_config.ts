/**
 * A pod's ProxyConfig: the mesh's defaultConfig overlaid with the pod's `proxy.istio.io/config`
 * annotation (YAML or JSON), as Istio's injector merges them. The fields the injector itself acts
 * on are read out; the whole merged object goes to the proxy as PROXY_CONFIG.
 *
 * The interception mode is worked out here once, annotation over ProxyConfig (Istio's template
 * reads `annotation .ObjectMeta "sidecar.istio.io/interceptionMode" .ProxyConfig.InterceptionMode`
 * in each place), so istio-init, the proxy's ISTIO_META_INTERCEPTION_MODE and its securityContext
 * cannot disagree.
 */
import { parse } from 'yaml';
import { ANNOTATIONS } from '../../agent/capture/annotations.ts';
import { durationMsOf } from '../../api/duration.ts';
import type { InjectionSettings, InterceptionMode } from './settings.ts';

export const PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config';

export interface PodProxyConfig {
  /** Merged ProxyConfig, the PROXY_CONFIG env's JSON. */
  merged: Record<string, unknown>;
  holdApplicationUntilProxyStarts: boolean;
  /** sidecar.istio.io/interceptionMode, else ProxyConfig.interceptionMode, else the mesh default. */
  interceptionMode: InterceptionMode;
  /** ProxyConfig.concurrency, when set (the proxy's --concurrency; 0 means one per core in Istio). */
  concurrency?: number;
  /** ProxyConfig.drainDuration in whole seconds (the proxy's --drain-time-s). */
  drainSeconds?: number;
  /** ProxyConfig.proxyMetadata: env of the proxy (and the init container's DNS capture). */
  proxyMetadata: Record<string, string>;
}

export type ProxyConfigResult = { ok: true; config: PodProxyConfig } | { ok: false; error: string };

export function podProxyConfig(annotations: Record<string, string> | undefined, settings: InjectionSettings): ProxyConfigResult {
  const merged: Record<string, unknown> = structuredClone(settings.defaultProxyConfig);
  const text = annotations?.[PROXY_CONFIG_ANNOTATION];
  if (text !== undefined && text.trim() !== '') {
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (e) {
      return { ok: false, error: `annotation ${PROXY_CONFIG_ANNOTATION}: not YAML or JSON: ${(e as Error).message.split('\n')[0]}` };
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { ok: false, error: `annotation ${PROXY_CONFIG_ANNOTATION}: expected a ProxyConfig object` };
    for (const [k, v] of Object.entries(doc)) {
      // proxyMetadata merges key by key (Istio's merge of the two ProxyConfig messages); other fields replace.
      if (k === 'proxyMetadata' && isObj(v) && isObj(merged.proxyMetadata)) merged[k] = { ...merged.proxyMetadata, ...v };
      else merged[k] = v;
    }
  }
  const fail = (field: string, want: string) => ({ ok: false as const, error: `${PROXY_CONFIG_ANNOTATION} (or meshConfig.defaultConfig) ${field}: ${want}, got ${JSON.stringify(merged[field])}` });
  const hold = merged.holdApplicationUntilProxyStarts ?? settings.holdApplicationUntilProxyStarts;
  if (typeof hold !== 'boolean') return fail('holdApplicationUntilProxyStarts', 'expected true or false');
  const annotated = annotations?.[ANNOTATIONS.interceptionMode];
  const mode = annotated ?? merged.interceptionMode ?? settings.interceptionMode;
  if (mode !== 'REDIRECT' && mode !== 'TPROXY' && mode !== 'NONE') {
    if (annotated !== undefined) return { ok: false, error: `annotation ${ANNOTATIONS.interceptionMode}: expected REDIRECT, TPROXY or NONE, got ${JSON.stringify(annotated)}` };
    return fail('interceptionMode', 'expected REDIRECT, TPROXY or NONE');
  }
  const config: PodProxyConfig = { merged, holdApplicationUntilProxyStarts: hold, interceptionMode: mode, proxyMetadata: {} };
  if (merged.concurrency !== undefined) {
    const n = Number(merged.concurrency);
    if (!Number.isInteger(n) || n < 0) return fail('concurrency', 'expected a whole number >= 0');
    // tsmesh proxy's --concurrency needs >= 1; Istio's 0 ("all cores") is left to the proxy's default.
    if (n > 0) config.concurrency = n;
  }
  if (merged.drainDuration !== undefined) {
    const ms = typeof merged.drainDuration === 'string' ? durationMsOf(merged.drainDuration) : undefined;
    if (ms === undefined) return fail('drainDuration', 'expected a duration like 45s');
    config.drainSeconds = Math.ceil(ms / 1000);
  }
  if (merged.proxyMetadata !== undefined) {
    if (!isObj(merged.proxyMetadata)) return fail('proxyMetadata', 'expected a map of strings');
    for (const [k, v] of Object.entries(merged.proxyMetadata)) config.proxyMetadata[k] = String(v);
  }
  return { ok: true, config };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
