/**
 * Fields a resource sets that tsmesh accepts but does not enforce yet (fields/support.ts): each
 * is a warning with TSMESH_ERR_UNSUPPORTED_FIELD, never an error — Istio's samples must still
 * apply — so that an operator who applies a DENY policy is told it does not hold.
 */
import { ERR } from '../errors.ts';
import { MAP_VALUES, type FieldTree } from '../fields/crd_tree.ts';
import { SPEC_FIELDS } from '../fields/istio_fields.gen.ts';
import { ISTIO_SUPPORT, describeGap } from '../fields/support.ts';
import { isIstioKind } from '../kinds.ts';
import { child } from '../paths.ts';
import type { Problems } from './common.ts';

/** Warns for every not-enforced field `spec` sets. */
export function checkUnsupportedFields(kind: string, spec: unknown, p: Problems): void {
  if (!isIstioKind(kind)) return;
  walk(spec, SPEC_FIELDS[kind], `${kind}.spec`, 'spec', [], p, true);
}

/**
 * Set as proto3 sees it: false, 0, "" and [] are the defaults, i.e. unset. An object counts even
 * when empty (`outlierDetection: {}` turns Envoy's defaults on; `spec: {}` is Istio's allow-nothing).
 */
function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  return !(Array.isArray(v) && v.length === 0);
}

function walk(value: unknown, tree: FieldTree | undefined, key: string, path: string, mapKeys: string[], p: Problems, root = false): void {
  if (tree === undefined || value === undefined || value === null) return;
  const s = ISTIO_SUPPORT[key];
  if (s?.status === 'n/a') return;
  if (s?.status === 'not_enforced') {
    if (root || isSet(value)) p.warn(path, describeGap(s), ERR.UNSUPPORTED_FIELD);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, tree, key, child(path, i), mapKeys, p));
    return;
  }
  // A value-specific gap looks at every value, defaults included (retryIgnorePreviousHosts: false).
  const g = s?.status === 'enforced' ? s.gap?.(value, mapKeys) : undefined;
  if (g) p.warn(path, describeGap(g), ERR.UNSUPPORTED_FIELD);
  if (tree === 0 || typeof value !== 'object') return;
  const values = tree[MAP_VALUES];
  for (const [k, v] of Object.entries(value)) {
    if (values !== undefined) walk(v, values, `${key}.${MAP_VALUES}`, child(path, k), [...mapKeys, k], p);
    else walk(v, tree[k], `${key}.${k}`, child(path, k), mapKeys, p);
  }
}
