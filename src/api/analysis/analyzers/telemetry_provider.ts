/**
 * telemetry.ProviderAnalyzer (IST0157): an accessLogging entry that names no provider uses the
 * mesh's defaultProviders.accessLogging; when the mesh has none the entry does nothing. An entry
 * that only disables is not reported. (istioctl checks access logging only: metrics and tracing
 * have built-in defaults.)
 */
import type { Analyzer } from '../types.ts';
import { arr, obj } from './wl_util.ts';

export const telemetryProviderAnalyzer: Analyzer = {
  name: 'telemetry.ProviderAnalyzer',
  description: 'Validates that providers in telemetry resource is valid',
  analyze(ctx) {
    const defaults = obj(ctx.meshConfig.defaultProviders);
    for (const t of ctx.list('telemetry.istio.io/Telemetry')) {
      const ineffective =
        arr(defaults.accessLogging).length === 0 && arr(t.spec.accessLogging).some((e) => arr(obj(e).providers).length === 0 && obj(e).disabled !== true);
      if (ineffective) ctx.report('InvalidTelemetryProvider', t, [t.name, t.namespace]);
    }
  },
};
