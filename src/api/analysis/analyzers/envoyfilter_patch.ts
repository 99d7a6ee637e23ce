/**
 * envoyfilter.EnvoyPatchAnalyzer: patch operations that Istio ignores or applies unreliably.
 * ADD/REMOVE on ROUTE_CONFIGURATION or HTTP_ROUTE are ignored (IST0153, IST0154); REPLACE works
 * only on HTTP_FILTER and NETWORK_FILTER (and VIRTUAL_HOST, which istioctl lets pass) (IST0152);
 * a relative operation (INSERT_BEFORE/AFTER, REPLACE, REMOVE) in an EnvoyFilter without a
 * priority depends on the order filters were applied in (IST0151).
 *
 * IST0155 (the same, made worse by a proxyVersion that changes on upgrade) follows istioctl's
 * observed rule: walking the patches of the EnvoyFilters without priority in order, a relative
 * patch gets IST0155 instead of IST0151 when it matches the same listener filter name as the
 * patch just before it and an earlier patch carried a proxyVersion. istioctl walks EnvoyFilters
 * in an order that can change between runs, so across namespaces it may differ; within one
 * input this follows the input's order.
 */
import type { Analyzer } from '../types.ts';
import { arr, obj, str } from './wl_util.ts';

const ROUTE_LEVEL = new Set(['ROUTE_CONFIGURATION', 'HTTP_ROUTE']);
const RELATIVE = new Set(['INSERT_BEFORE', 'INSERT_AFTER', 'REPLACE', 'REMOVE']);
const REPLACEABLE = new Set(['HTTP_FILTER', 'NETWORK_FILTER', 'VIRTUAL_HOST']);

export const envoyPatchAnalyzer: Analyzer = {
  name: 'envoyfilter.EnvoyPatchAnalyzer',
  description: 'Checks an envoyFilters ',
  analyze(ctx) {
    const names: string[] = [];
    let proxyVersionSeen = false;
    for (const ef of ctx.list('networking.istio.io/EnvoyFilter')) {
      const priority = Number(ef.spec.priority ?? 0) || 0;
      for (const cp of arr(ef.spec.configPatches)) {
        const applyTo = str(obj(cp).applyTo);
        const op = str(obj(obj(cp).patch).operation);
        const match = obj(obj(cp).match);
        const proxyVersion = str(obj(match.proxy).proxyVersion);
        if (priority === 0) names.push(str(obj(obj(obj(match.listener).filterChain).filter).name));
        if (op === 'ADD' && ROUTE_LEVEL.has(applyTo)) ctx.report('EnvoyFilterUsesAddOperationIncorrectly', ef, []);
        else if (op === 'REMOVE' && ROUTE_LEVEL.has(applyTo)) ctx.report('EnvoyFilterUsesRemoveOperationIncorrectly', ef, []);
        else if (op === 'REPLACE' && !REPLACEABLE.has(applyTo)) ctx.report('EnvoyFilterUsesReplaceOperationIncorrectly', ef, []);
        else if (priority === 0 && RELATIVE.has(op)) {
          const n = names.length;
          const sameAsPrevious = n > 1 && names[n - 1] === names[n - 2];
          if (sameAsPrevious && proxyVersionSeen) ctx.report('EnvoyFilterUsesRelativeOperationWithProxyVersion', ef, []);
          else ctx.report('EnvoyFilterUsesRelativeOperation', ef, []);
        }
        if (priority === 0 && proxyVersion !== '') proxyVersionSeen = true;
      }
    }
  },
};
