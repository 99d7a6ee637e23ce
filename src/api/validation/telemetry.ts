/**
 * Telemetry rules: selector vs targetRefs, tracing sampling and custom tags, metric tag
 * overrides (value expressions compiled as CEL), access logging providers and filter
 * expressions (CEL, the position of a fault named).
 */
import { Problems, arr, checkDuration, checkRange, checkSelector, checkSelectorXorTargetRef, child, isSet, obj, str, type Obj } from './common.ts';
import { checkCel } from './cel.ts';

export function validateTelemetry(spec: Obj, p: Problems): void {
  checkSelector(p, 'spec.selector', spec.selector, 'matchLabels');
  checkSelectorXorTargetRef(p, spec);
  arr(spec.tracing).forEach((t, i) => {
    const tp = child('spec.tracing', i);
    const to = obj(t);
    if (!to) return;
    checkProviders(to.providers, child(tp, 'providers'), p);
    checkRange(p, child(tp, 'randomSamplingPercentage'), to.randomSamplingPercentage, 0, 100);
    const tags = obj(to.customTags);
    if (tags) for (const [name, tag] of Object.entries(tags)) {
      const kinds = ['literal', 'environment', 'header'].filter((k) => isSet(obj(tag)?.[k]));
      if (kinds.length !== 1) p.err(child(child(tp, 'customTags'), name), `a custom tag needs exactly one of literal, environment, header${kinds.length ? ` (found ${kinds.join(' and ')})` : ''}`);
    }
  });
  arr(spec.metrics).forEach((m, i) => {
    const mp = child('spec.metrics', i);
    const mo = obj(m);
    if (!mo) return;
    checkProviders(mo.providers, child(mp, 'providers'), p);
    checkDuration(p, child(mp, 'reportingInterval'), mo.reportingInterval);
    arr(mo.overrides).forEach((o, j) => {
      const op = child(child(mp, 'overrides'), j);
      const oo = obj(o);
      const tags = obj(oo?.tagOverrides);
      if (!tags) return;
      for (const [tag, ov] of Object.entries(tags)) {
        const tagPath = child(child(op, 'tagOverrides'), tag);
        const to = obj(ov);
        if (!to) continue;
        const operation = str(to.operation) ?? 'UPSERT';
        if (operation === 'UPSERT' && !isSet(to.value)) p.err(child(tagPath, 'value'), 'value must be set when operation is UPSERT');
        if (operation === 'REMOVE' && isSet(to.value)) p.err(child(tagPath, 'value'), 'value must not be set when operation is REMOVE');
        if (operation === 'UPSERT' && typeof to.value === 'string' && to.value) checkCel(p, child(tagPath, 'value'), to.value);
      }
    });
  });
  arr(spec.accessLogging).forEach((a, i) => {
    const ao = obj(a);
    if (!ao) return;
    const ap = child('spec.accessLogging', i);
    checkProviders(ao.providers, child(ap, 'providers'), p);
    const filter = obj(ao.filter);
    if (filter && !isSet(filter.expression)) p.err(`${ap}.filter.expression`, 'filter expression is required');
    else if (filter && typeof filter.expression === 'string') checkCel(p, `${ap}.filter.expression`, filter.expression, 'bool');
  });
}

function checkProviders(v: unknown, path: string, p: Problems): void {
  arr(v).forEach((pr, i) => {
    if (!isSet(obj(pr)?.name)) p.err(child(child(path, i), 'name'), 'provider name is required');
  });
}
