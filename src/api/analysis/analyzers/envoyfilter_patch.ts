/**
 * envoyfilter.EnvoyPatchAnalyzer: patch operations that Istio ignores or applies unreliably.
 * ADD/REMOVE on ROUTE_CONFIGURATION or HTTP_ROUTE are ignored (IST0153, IST0154); a relative
 * operation (INSERT_BEFORE/AFTER, REPLACE, REMOVE) without a priority depends on the order other
 * filters were applied in (IST0151), worse with a proxyVersion match that changes on upgrade
 * (IST0155); REPLACE only works on HTTP_FILTER and NETWORK_FILTER (IST0152).
 */
import type { Analyzer } from '../types.ts';
import { arr, obj, str } from './wl_util.ts';

const ROUTE_LEVEL = new Set(['ROUTE_CONFIGURATION', 'HTTP_ROUTE']);
const RELATIVE = new Set(['INSERT_BEFORE', 'INSERT_AFTER', 'REPLACE', 'REMOVE']);
const REPLACEABLE = new Set(['HTTP_FILTER', 'NETWORK_FILTER']);

export const envoyPatchAnalyzer: Analyzer = {
  name: 'envoyfilter.EnvoyPatchAnalyzer',
  analyze(ctx) {
    for (const ef of ctx.list('networking.istio.io/EnvoyFilter')) {
      const priority = Number(ef.spec.priority ?? 0) || 0;
      for (const cp of arr(ef.spec.configPatches)) {
        const applyTo = str(obj(cp).applyTo);
        const op = str(obj(obj(cp).patch).operation);
        const proxyVersion = str(obj(obj(obj(cp).match).proxy).proxyVersion);
        if (op === 'ADD' && ROUTE_LEVEL.has(applyTo)) ctx.report('EnvoyFilterUsesAddOperationIncorrectly', ef, []);
        else if (op === 'REMOVE' && ROUTE_LEVEL.has(applyTo)) ctx.report('EnvoyFilterUsesRemoveOperationIncorrectly', ef, []);
        else if (priority === 0 && RELATIVE.has(op)) {
          ctx.report('EnvoyFilterUsesRelativeOperation', ef, []);
          if (proxyVersion !== '') ctx.report('EnvoyFilterUsesRelativeOperationWithProxyVersion', ef, []);
        } else if (op === 'REPLACE' && !REPLACEABLE.has(applyTo)) ctx.report('EnvoyFilterUsesReplaceOperationIncorrectly', ef, []);
      }
    }
  },
};
