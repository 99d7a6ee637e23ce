/**
 * Multi-document YAML / JSON → Config objects, keeping where each came from (file, document,
 * List item) and enough of the source to point an error at its line.
 */
import { LineCounter, parseAllDocuments, isMap, isNode, isScalar, type Document } from 'yaml';
import { ERR } from './errors.ts';
import { isClusterScoped, isIstioKind, resolveKind } from './kinds.ts';
import { nearest } from './nearest.ts';
import { parsePath, type Segment } from './paths.ts';
import type { Config, ObjectMeta, ValidationError } from './types.ts';

export interface ParseOptions {
  /** Reported in origins and errors. */
  file?: string;
  /** Namespace for objects without metadata.namespace (default "default", like kubectl). */
  namespace?: string;
}

/** One object found in the input, before validation. */
export interface ParsedEntry {
  /** Set when the object is of a supported kind and has the identity a Config needs. */
  config?: Config;
  /** Problems found while reading (syntax, unknown kind, missing name); warnings for ignored kinds. */
  errors: ValidationError[];
  /** The 1-based source line of a field path inside this object (or of the nearest parent that exists). */
  line(path?: string): number | undefined;
}

const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
// Kubernetes kinds whose data sits beside `spec` (ServiceAccount and Secret have no spec at all).
const KUBE_TOP_LEVEL_EXTRA = new Set(['secrets', 'imagePullSecrets', 'automountServiceAccountToken', 'type', 'data', 'stringData', 'immutable']);
/** A Secret's top-level fields, kept as its `spec` so the rest of tsmesh reads one shape. */
const SECRET_FIELDS = ['type', 'data', 'stringData'] as const;

export function parseDocuments(text: string, opts: ParseOptions = {}): ParsedEntry[] {
  const lineCounter = new LineCounter();
  const out: ParsedEntry[] = [];
  const docs = parseAllDocuments(text, { lineCounter, merge: true, prettyErrors: false });
  // An empty stream (only comments / whitespace) is not an error: it holds nothing.
  if (!Array.isArray(docs)) return out;
  docs.forEach((doc, document) => {
    const lineOfOffset = (offset: number) => lineCounter.linePos(offset).line;
    const docLine = doc.contents?.range ? lineOfOffset(doc.contents.range[0]) : undefined;
    if (doc.errors.length > 0) {
      // Where the parser stopped, not where the document starts: that is the line to fix.
      out.push(entry(doc.errors.map((e) => {
        const at = e.pos ? lineCounter.linePos(e.pos[0]) : undefined;
        return { file: opts.file, path: '', line: at?.line ?? docLine, column: at?.col, code: ERR.YAML_SYNTAX, message: `YAML syntax error (document ${document}): ${firstLine(e.message)}` };
      })));
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      out.push(entry([{ file: opts.file, path: '', line: docLine, code: ERR.YAML_SYNTAX, message: `YAML error (document ${document}): ${(e as Error).message}` }]));
      return;
    }
    if (value === null || value === undefined) return; // `---` with nothing after it
    const locate = (prefix: Segment[]) => (path?: string) => nodeLine(doc, lineOfOffset, [...prefix, ...parsePath(path ?? '')]);
    if (isObject(value) && value.kind === 'List' && Array.isArray(value.items)) {
      value.items.forEach((item, i) => out.push(toEntry(item, opts, document, i, locate(['items', i]))));
      return;
    }
    out.push(toEntry(value, opts, document, undefined, locate([])));
  });
  return out;
}

/** The simple form: every Config that could be read, and every reading problem. No validation. */
export function parseConfigs(text: string, opts: ParseOptions = {}): { configs: Config[]; errors: ValidationError[] } {
  const configs: Config[] = [];
  const errors: ValidationError[] = [];
  for (const e of parseDocuments(text, opts)) {
    if (e.config) configs.push(e.config);
    errors.push(...e.errors);
  }
  return { configs, errors };
}

function toEntry(value: unknown, opts: ParseOptions, document: number, item: number | undefined, line: (path?: string) => number | undefined): ParsedEntry {
  const where = `document ${document}${item === undefined ? '' : `, item ${item}`}`;
  const err = (path: string, message: string, extra: Partial<ValidationError> = {}): ParsedEntry => ({
    errors: [{ file: opts.file, path, line: line(path), message, ...(extra.severity === 'warning' ? {} : { code: ERR.INVALID_RESOURCE }), ...extra }],
    line,
  });
  if (!isObject(value)) return err('', `${where}: expected a Kubernetes object (a mapping with apiVersion, kind, metadata), got ${describe(value)}`);
  const meta = value.metadata;
  const name = isObject(meta) && typeof meta.name === 'string' ? meta.name : undefined;
  const resolved = resolveKind(value.apiVersion, value.kind);
  if (!resolved.ok) {
    const kind = typeof value.kind === 'string' ? value.kind : undefined;
    const ns = isObject(meta) && typeof meta.namespace === 'string' ? meta.namespace : opts.namespace ?? 'default';
    return err(resolved.field, resolved.message, { kind, name, namespace: kind ? ns : undefined, severity: resolved.ignore ? 'warning' : 'error' });
  }
  const kind = resolved.kind;
  if (meta !== undefined && !isObject(meta)) return err('metadata', `metadata must be an object, got ${describe(meta)}`, { kind });
  const m: Record<string, unknown> = isObject(meta) ? meta : {};
  const ident = { kind, name: name ?? '?', namespace: typeof m.namespace === 'string' ? m.namespace : opts.namespace ?? 'default' };
  if (name === undefined || name === '') {
    return err('metadata.name', m.generateName ? 'metadata.generateName is not supported; set metadata.name' : 'metadata.name is required', ident);
  }
  if (m.namespace !== undefined && typeof m.namespace !== 'string') return err('metadata.namespace', `must be a string, got ${describe(m.namespace)}`, ident);
  const namespace = isClusterScoped(kind) ? '' : (m.namespace as string | undefined) || opts.namespace || 'default';
  const errors: ValidationError[] = [];
  for (const key of Object.keys(value)) {
    if (TOP_LEVEL.has(key) || (!isIstioKind(kind) && KUBE_TOP_LEVEL_EXTRA.has(key))) continue;
    const near = nearest(key, isIstioKind(kind) ? TOP_LEVEL : [...TOP_LEVEL, ...KUBE_TOP_LEVEL_EXTRA]) ?? (key.toLowerCase().startsWith('spec') ? 'spec' : undefined);
    errors.push({ file: opts.file, kind, namespace, name, path: key, line: line(key), code: ERR.UNKNOWN_FIELD, message: `unknown field "${key}"${near ? `; did you mean "${near}"?` : ''}` });
  }
  if (errors.length > 0) return { errors, line };
  const metadata: ObjectMeta = { ...(m as Partial<ObjectMeta>), name, namespace };
  const config: Config = {
    apiVersion: value.apiVersion as string,
    kind,
    metadata,
    spec: kind === 'Secret' ? Object.fromEntries(SECRET_FIELDS.filter((k) => value[k] !== undefined).map((k) => [k, value[k]])) : value.spec === undefined || value.spec === null ? {} : value.spec,
    origin: { file: opts.file, document, ...(item === undefined ? {} : { item }) },
  };
  return { config, errors: [], line };
}

function entry(errors: ValidationError[]): ParsedEntry {
  return { errors, line: () => errors[0]?.line };
}

/**
 * The line of the field at `segs`: of its key when it is a mapping entry (a block value starts
 * on the next line, but the user reads the field where its name is), else of the list item;
 * walks up the path to the nearest parent that exists.
 */
export function nodeLine(doc: Document, lineOf: (offset: number) => number, segs: Segment[]): number | undefined {
  for (let n = segs.length; n >= 0; n--) {
    if (n > 0) {
      const parent = n === 1 ? doc.contents : doc.getIn(segs.slice(0, n - 1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((it) => (isScalar(it.key) ? it.key.value : it.key) === segs[n - 1]);
        if (pair && isNode(pair.key) && pair.key.range) return lineOf(pair.key.range[0]);
      }
    }
    const node = n === 0 ? doc.contents : doc.getIn(segs.slice(0, n), true);
    if (isNode(node) && node.range) return lineOf(node.range[0]);
  }
  return undefined;
}

export function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}
