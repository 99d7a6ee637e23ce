/**
 * telemetry.ProviderAnalyzer (IST0157): a Telemetry entry (metrics, tracing, accessLogging)
 * that names no provider uses the mesh's defaultProviders; when the mesh has none for that kind
 * the entry does nothing. An entry that only disables is not reported.
 */
import type { Analyzer } from '../types.ts';
import { arr, obj } from './wl_util.ts';

const KINDS = ['metrics', 'tracing', 'accessLogging'] as const;

export const telemetryProviderAnalyzer: Analyzer = {
  name: 'telemetry.ProviderAnalyzer',
  analyze(ctx) {
    const defaults = obj(ctx.meshConfig.defaultProviders);
    for (const t of ctx.list('telemetry.istio.io/Telemetry')) {
      const ineffective = KINDS.some(
        (k) => arr(defaults[k]).length === 0 && arr(t.spec[k]).some((e) => arr(obj(e).providers).length === 0 && obj(e).disabled !== true),
      );
      if (ineffective) ctx.report('InvalidTelemetryProvider', t, [t.name, t.namespace]);
    }
  },
};
