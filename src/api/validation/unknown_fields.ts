/**
 * Unknown fields at every depth of an Istio spec, as `kubectl apply --validate=strict` reports
 * them: a misspelt `timout:` would otherwise be dropped (Kubernetes prunes it) and the operator
 * would believe a timeout is in force. The known fields come from Istio's CRDs (fields/).
 */
import { ERR } from '../errors.ts';
import { MAP_VALUES, type FieldTree } from '../fields/crd_tree.ts';
import { SPEC_FIELDS } from '../fields/istio_fields.gen.ts';
import { isIstioKind } from '../kinds.ts';
import { nearest } from '../nearest.ts';
import { child } from '../paths.ts';
import type { Problems } from './common.ts';

/** Reports every field of `spec` that the kind's schema does not define. */
export function checkUnknownFields(kind: string, spec: unknown, p: Problems): void {
  if (!isIstioKind(kind)) return; // Kubernetes kinds are checked field by field in kube.ts
  walk(spec, SPEC_FIELDS[kind], 'spec', p);
}

function walk(value: unknown, tree: FieldTree, path: string, p: Problems): void {
  if (tree === 0 || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, tree, child(path, i), p));
    return;
  }
  const values = tree[MAP_VALUES];
  if (values !== undefined) {
    for (const [k, v] of Object.entries(value)) walk(v, values, child(path, k), p);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const sub = tree[k];
    if (sub === undefined) {
      const near = nearest(k, Object.keys(tree));
      p.err(child(path, k), `unknown field "${k}"${near ? `; did you mean "${near}"?` : ''}`, ERR.UNKNOWN_FIELD);
    } else walk(v, sub, child(path, k), p);
  }
}
