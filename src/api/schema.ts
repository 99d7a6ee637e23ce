/**
 * Structural validation against Istio's published OpenAPI schemas (the CRDs), through the
 * compiled validators in @kubernetes-models/istio. We only translate their errors into
 * field paths and plain sentences; the schemas themselves are never re-typed here.
 */
import { schemaModel } from './kinds.ts';
import { child } from './paths.ts';
import type { Config } from './types.ts';
import { describe } from './yaml.ts';

export interface FieldProblem {
  path: string;
  message: string;
}

/** An ajv error object, as thrown inside the models' ValidationError. */
interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, any>;
  message?: string;
}

/** Schema problems of one Istio object (none for Kubernetes kinds: those are checked by hand). */
export function schemaProblems(config: Config): FieldProblem[] {
  const Model = schemaModel(config.apiVersion, config.kind);
  if (!Model) return [];
  const obj = { apiVersion: config.apiVersion, kind: config.kind, metadata: config.metadata, spec: config.spec };
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: AjvError[] }).errors;
    if (!Array.isArray(errors)) return [{ path: '', message: `schema validation failed: ${(e as Error).message}` }];
    return translate(errors, obj);
  }
}

function translate(errors: AjvError[], root: unknown): FieldProblem[] {
  // A failed oneOf at a path also produces the failing branches' `not`/`required` noise at the
  // same path; the oneOf itself says what is wrong.
  const oneOfAt = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const out: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (oneOfAt.has(e.instancePath) && (e.keyword === 'not' || e.keyword === 'required' || e.keyword === 'anyOf')) continue;
    const { path, value } = resolve(e.instancePath, root);
    const p = e.keyword === 'required' ? child(path, e.params.missingProperty) : path;
    const message = sentence(e, value);
    const key = `${p}\0${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path: p, message });
  }
  return out;
}

/** JSON pointer → our path, walking the data so array indexes print as [n]. */
function resolve(pointer: string, root: unknown): { path: string; value: unknown } {
  let path = '';
  let cur: any = root;
  if (pointer === '') return { path, value: cur };
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      path = child(path, Number(key));
      cur = cur[Number(key)];
    } else {
      path = child(path, key);
      cur = cur && typeof cur === 'object' ? cur[key] : undefined;
    }
  }
  return { path, value: cur };
}

function sentence(e: AjvError, value: unknown): string {
  const p = e.params;
  switch (e.keyword) {
    case 'type':
      return `must be ${article(String(p.type))}, got ${describe(value)}`;
    case 'enum':
      return `unknown value ${JSON.stringify(value)}; must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'required':
      return 'is required';
    case 'oneOf':
      return Array.isArray(p.passingSchemas)
        ? `sets more than one of a set of mutually exclusive fields (${presentKeys(value)}); set only one`
        : 'does not match any of the allowed forms';
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum':
      return `must be ${p.comparison} ${p.limit}, got ${JSON.stringify(value)}`;
    case 'format':
      return `must be a valid ${p.format}, got ${JSON.stringify(value)}`;
    case 'pattern':
      return `must match ${p.pattern}, got ${JSON.stringify(value)}`;
    case 'additionalProperties':
      return `unknown field "${p.additionalProperty}"`;
    case 'maxItems':
    case 'maxLength':
    case 'maxProperties':
      return `must have at most ${p.limit} ${e.keyword === 'maxLength' ? 'characters' : 'items'}`;
    case 'minItems':
    case 'minLength':
    case 'minProperties':
      return `must have at least ${p.limit} ${e.keyword === 'minLength' ? 'characters' : 'items'}`;
    default:
      return e.message ?? `fails schema rule ${e.keyword}`;
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function presentKeys(v: unknown): string {
  return v && typeof v === 'object' ? Object.keys(v).join(', ') : '';
}
