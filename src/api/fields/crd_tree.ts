/**
 * The field names a CRD's OpenAPI schema allows, as a tree: what `kubectl apply
 * --validate=strict` checks unknown fields against. Built from Istio's CRDs by generate.ts,
 * and again by the tests from the CRD file itself so the committed tree cannot drift.
 */

/**
 * `0`: a value whose keys are not checked (a scalar, a free-form object such as a map of
 * strings or a `x-kubernetes-preserve-unknown-fields` Struct). An object lists its fields; a
 * map whose values are objects has them under `*`. A list is described by its item.
 */
export type FieldTree = 0 | { readonly [field: string]: FieldTree };

/** The key under which a map's value schema sits (no Istio field is named "*"). */
export const MAP_VALUES = '*';

/** The tree of an OpenAPI v3 schema (a CRD's openAPIV3Schema or any part of it). */
export function fieldTreeOf(schema: any): FieldTree {
  if (!schema || typeof schema !== 'object') return 0;
  if (schema.items) return fieldTreeOf(schema.items);
  if (schema['x-kubernetes-preserve-unknown-fields']) return 0;
  if (schema.properties && typeof schema.properties === 'object') {
    const out: Record<string, FieldTree> = {};
    for (const k of Object.keys(schema.properties).sort()) out[k] = fieldTreeOf(schema.properties[k]);
    return out;
  }
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    const values = fieldTreeOf(schema.additionalProperties);
    return values === 0 ? 0 : { [MAP_VALUES]: values };
  }
  return 0;
}

/** A CustomResourceDefinition document → kind and the tree of its `spec`, if every served version agrees. */
export function specTreeOfCrd(crd: any): { kind: string; group: string; spec: FieldTree } {
  const kind: string = crd.spec.names.kind;
  const trees = (crd.spec.versions as any[])
    .filter((v) => v.served !== false)
    .map((v) => fieldTreeOf(v.schema?.openAPIV3Schema?.properties?.spec));
  const first = JSON.stringify(trees[0]);
  // Istio generates every version of a kind from one proto; if that ever changes, the tree must
  // become per version rather than silently use one version's fields for all.
  if (trees.some((t) => JSON.stringify(t) !== first)) throw new Error(`${kind}: served versions have different spec schemas`);
  return { kind, group: crd.spec.group, spec: trees[0] ?? 0 };
}
