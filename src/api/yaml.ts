/**
 * Multi-document YAML / JSON → Config objects, keeping where each came from (file, document,
 * List item) and enough of the source to point an error at its line.
 */
import { LineCounter, parseAllDocuments, isNode, type Document } from 'yaml';
import { isClusterScoped, isIstioKind, resolveKind } from './kinds.ts';
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
// Kubernetes kinds whose data sits beside `spec` (ServiceAccount has no spec at all).
const KUBE_TOP_LEVEL_EXTRA = new Set(['secrets', 'imagePullSecrets', 'automountServiceAccountToken']);

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
      for (const e of doc.errors) {
        out.push(entry([{ file: opts.file, path: '', line: e.linePos?.[0].line ?? docLine, message: `YAML syntax error (document ${document}): ${firstLine(e.message)}` }]));
      }
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      out.push(entry([{ file: opts.file, path: '', line: docLine, message: `YAML error (document ${document}): ${(e as Error).message}` }]));
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
    errors: [{ file: opts.file, path, line: line(path), message, ...extra }],
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
    errors.push({ file: opts.file, kind, namespace, name, path: key, line: line(key), message: `unknown field "${key}"${key.toLowerCase().startsWith('spec') ? '; did you mean "spec"?' : ''}` });
  }
  if (errors.length > 0) return { errors, line };
  const metadata: ObjectMeta = { ...(m as Partial<ObjectMeta>), name, namespace };
  const config: Config = {
    apiVersion: value.apiVersion as string,
    kind,
    metadata,
    spec: value.spec === undefined || value.spec === null ? {} : value.spec,
    origin: { file: opts.file, document, ...(item === undefined ? {} : { item }) },
  };
  return { config, errors: [], line };
}

function entry(errors: ValidationError[]): ParsedEntry {
  return { errors, line: () => errors[0]?.line };
}

/** Walks up the path until a node exists, and returns its line. */
function nodeLine(doc: Document, lineOf: (offset: number) => number, segs: Segment[]): number | undefined {
  for (let n = segs.length; n >= 0; n--) {
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
