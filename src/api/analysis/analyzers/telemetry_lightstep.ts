/**
 * telemetry.LightstepAnalyzer (IST0002): tracing through a mesh extension provider of the
 * lightstep kind, which Istio deprecates in favour of OpenTelemetry.
 */
import type { Analyzer } from '../types.ts';
import { arr, obj, str } from './wl_util.ts';

export const telemetryLightstepAnalyzer: Analyzer = {
  name: 'telemetry.LightstepAnalyzer',
  description: 'Validates that lightstep provider is still used',
  analyze(ctx) {
    const lightstep = new Set(arr(ctx.meshConfig.extensionProviders).filter((p) => obj(p).lightstep).map((p) => str(obj(p).name)));
    if (lightstep.size === 0) return;
    for (const t of ctx.list('telemetry.istio.io/Telemetry')) {
      const used = new Set<string>();
      for (const tr of arr(t.spec.tracing)) for (const p of arr(obj(tr).providers)) used.add(str(obj(p).name));
      for (const name of used) {
        if (lightstep.has(name)) ctx.report('Deprecated', t, [`The Lightstep provider ${name} is deprecated, please migrate to OpenTelemetry provider.`]);
      }
    }
  },
};
