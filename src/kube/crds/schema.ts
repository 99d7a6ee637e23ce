/**
 * A structural OpenAPI v3 schema (what apiextensions.k8s.io/v1 requires) for each Istio kind and
 * version, read out of the schemas tsmesh already depends on: the compiled validators of
 * @kubernetes-models/istio (generated from Istio's CRDs) say each field's type, item type, map
 * value type, enum and required fields; the field names come from the same CRDs' field tree
 * (src/api/fields). Nothing of Istio's schema is re-typed here: each fact is asked of the
 * validator by handing it a value of no JSON type (a Symbol) at that field and reading which
 * type it expected.
 */
import { SPEC_FIELDS } from '../../api/fields/istio_fields.gen.ts';
import { MAP_VALUES, type FieldTree } from '../../api/fields/crd_tree.ts';
import { schemaModel, type SchemaModel } from '../../api/kinds.ts';
import type { IstioKind } from '../../api/types.ts';

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps these schemas use. */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, JSONSchemaProps>;
  additionalProperties?: JSONSchemaProps;
  items?: JSONSchemaProps;
  required?: string[];
  enum?: unknown[];
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-int-or-string'?: true;
}

interface AjvError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, any>;
}

type Seg = string | 0;
/** A value no JSON schema type accepts, so every `type` keyword on its path reports itself. */
const NO_TYPE = Symbol('probe');
/** A string no Istio enum contains. */
const NO_ENUM = '\u0000tsmesh-probe';
/** A map key: no Istio field is named this. */
const KEY = 'tsmesh-probe-key';

/** The schema of the whole object (spec, status) of `kind` at `apiVersion`. */
export function crdSchema(apiVersion: string, kind: IstioKind): JSONSchemaProps {
  const Model = schemaModel(apiVersion, kind);
  if (!Model) throw new Error(`no published schema for ${apiVersion} ${kind}`);
  const probe = new Prober(Model, apiVersion, kind);
  const out: JSONSchemaProps = {
    type: 'object',
    properties: {
      spec: probe.node(['spec'], SPEC_FIELDS[kind]),
      // Istio's status (conditions, validationMessages, observedGeneration) is free-form in its CRDs.
      status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    },
  };
  const required = probe.requiredAt([], {});
  if (required.includes('spec')) out.required = ['spec'];
  return out;
}

class Prober {
  constructor(
    private readonly Model: SchemaModel,
    private readonly apiVersion: string,
    private readonly kind: string,
  ) {}

  node(segs: Seg[], tree: FieldTree): JSONSchemaProps {
    const types = this.expectedTypes(segs);
    if (types.length === 0) return { 'x-kubernetes-preserve-unknown-fields': true };
    if (types.length === 2 && types.includes('integer') && types.includes('string')) return { 'x-kubernetes-int-or-string': true };
    if (types.length > 1) return { 'x-kubernetes-preserve-unknown-fields': true };
    const type = types[0] as NonNullable<JSONSchemaProps['type']>;
    switch (type) {
      case 'array':
        return { type, items: this.node([...segs, 0], tree) };
      case 'object':
        return this.object(segs, tree);
      case 'string': {
        const allowed = this.errorsAt(segs, NO_ENUM).find((e) => e.keyword === 'enum')?.params.allowedValues;
        return Array.isArray(allowed) ? { type, enum: allowed } : { type };
      }
      default:
        return { type };
    }
  }

  private object(segs: Seg[], tree: FieldTree): JSONSchemaProps {
    if (tree !== 0 && tree[MAP_VALUES] === undefined) {
      const properties: Record<string, JSONSchemaProps> = {};
      for (const k of Object.keys(tree).sort()) properties[k] = this.node([...segs, k], tree[k]);
      const required = this.requiredAt(segs, {});
      return { type: 'object', properties, ...(required.length ? { required } : {}) };
    }
    const values: FieldTree = tree === 0 ? 0 : tree[MAP_VALUES];
    // A map: its values are typed; a Struct (free-form object) has no typed values at all.
    if (this.expectedTypes([...segs, KEY]).length === 0 && values === 0) return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    return { type: 'object', additionalProperties: this.node([...segs, KEY], values) };
  }

  /** The required fields of the object at `segs`, given `value` there. */
  requiredAt(segs: Seg[], value: Record<string, never>): string[] {
    return this.errorsAt(segs, value, segs.length === 0)
      .filter((e) => e.keyword === 'required' && e.schemaPath === '#/required')
      .map((e) => String(e.params.missingProperty))
      .sort();
  }

  private expectedTypes(segs: Seg[]): string[] {
    const types = new Set<string>();
    for (const e of this.errorsAt(segs, NO_TYPE)) {
      if (e.keyword !== 'type') continue;
      for (const t of [e.params.type].flat()) if (t !== 'null') types.add(String(t));
    }
    return [...types].sort();
  }

  /** The validator's errors exactly at `segs` when `value` is placed there. */
  private errorsAt(segs: Seg[], value: unknown, whole = false): AjvError[] {
    let data: unknown = value;
    for (let i = segs.length - 1; i >= 0; i--) data = segs[i] === 0 ? [data] : { [segs[i] as string]: data };
    const obj = whole
      ? { apiVersion: this.apiVersion, kind: this.kind, metadata: { name: 'probe' } }
      : { apiVersion: this.apiVersion, kind: this.kind, metadata: { name: 'probe' }, ...(data as object) };
    const pointer = segs.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
    let errors: AjvError[] = [];
    try {
      new this.Model(obj).validate();
    } catch (e) {
      errors = ((e as { errors?: AjvError[] }).errors ?? []) as AjvError[];
    }
    return errors.filter((e) => e.instancePath === pointer);
  }
}
