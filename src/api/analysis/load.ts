/**
 * Reads YAML files and directories into analysis Resources of any kind (Pods, ConfigMaps and
 * webhooks too), keeping each field's line so messages can point at it. Namespaces resolve as
 * istioctl's do: an object without metadata.namespace is in the namespace analyzed ("default"
 * unless -n), and in none ("") under --all-namespaces.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { parsePath, type Segment } from '../paths.ts';
import { nodeLine } from '../yaml.ts';
import type { Resource } from './types.ts';

export interface LoadOptions {
  /** Namespace of objects that name none ("default"; "" under --all-namespaces). */
  namespace?: string;
}

export interface ParseError {
  file: string;
  message: string;
}

export interface LoadedInput {
  resources: Resource[];
  /** Documents istioctl would refuse (no apiVersion/kind, bad YAML): each makes its file unparsed. */
  errors: ParseError[];
  /** Files read, in order. */
  files: string[];
}

/** Kubernetes and Istio kinds that live outside namespaces. */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'StorageClass', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition',
  'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'GatewayClass', 'PriorityClass', 'IngressClass',
  'APIService', 'CertificateSigningRequest', 'RuntimeClass', 'PodSecurityPolicy', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
]);

export function isClusterScopedKind(kind: string): boolean {
  return CLUSTER_SCOPED.has(kind);
}

/** Parses one text (a file's content) into Resources; `file` is how messages name it. */
export function parseResources(text: string, file: string, opts: LoadOptions = {}): { resources: Resource[]; errors: ParseError[] } {
  const resources: Resource[] = [];
  const errors: ParseError[] = [];
  const lineCounter = new LineCounter();
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  const docs = parseAllDocuments(text, { lineCounter, merge: true, prettyErrors: false });
  if (!Array.isArray(docs)) return { resources, errors };
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      errors.push({ file, message: `error processing ${file}[${i}]: ${doc.errors[0].message.split('\n')[0]}` });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      errors.push({ file, message: `error processing ${file}[${i}]: ${(e as Error).message}` });
      return;
    }
    if (value === null || value === undefined) return;
    if (isObject(value) && value.kind === 'List' && Array.isArray(value.items)) {
      value.items.forEach((item, j) => add(item, ['items', j], `${file}[${i}]`));
      return;
    }
    add(value, [], `${file}[${i}]`);

    function add(obj: unknown, prefix: Segment[], where: string): void {
      if (!isObject(obj) || typeof obj.apiVersion !== 'string' || !obj.apiVersion || typeof obj.kind !== 'string' || !obj.kind) {
        errors.push({ file, message: `error processing ${where}: unable to parse resource with no group, version and kind` });
        return;
      }
      // The object's own line is where istioctl puts it: the line after the `---` that opens the
      // document (line 1 for the first document, leading comments included); a List item's first line.
      const start = prefix.length > 0 ? nodeLine(doc, lineOf, prefix) : documentStart(text, doc, lineOf);
      resources.push(toResource(obj, file, opts, (path) => (path ? nodeLine(doc, lineOf, [...prefix, ...parsePath(path)]) : start)));
    }
  });
  return { resources, errors };
}

export function toResource(obj: Record<string, any>, file: string | undefined, opts: LoadOptions, line: (path?: string) => number | undefined): Resource {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const apiVersion = String(obj.apiVersion ?? '');
  const kind = String(obj.kind ?? '');
  const slash = apiVersion.indexOf('/');
  const namespace = isClusterScopedKind(kind) ? '' : typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : opts.namespace ?? 'default';
  return {
    apiVersion,
    group: slash < 0 ? '' : apiVersion.slice(0, slash),
    kind,
    namespace,
    name: typeof meta.name === 'string' ? meta.name : '',
    labels: stringMap(meta.labels),
    annotations: stringMap(meta.annotations),
    object: obj,
    spec: isObject(obj.spec) ? obj.spec : {},
    origin: { file, line },
  };
}

/** Every YAML/JSON file under each path (recursively, sorted), parsed. */
export function loadInputs(paths: readonly string[], opts: LoadOptions = {}): LoadedInput {
  const out: LoadedInput = { resources: [], errors: [], files: [] };
  for (const p of paths) {
    for (const file of listFiles(p)) {
      out.files.push(file);
      const r = parseResources(readFileSync(file, 'utf8'), file, opts);
      out.resources.push(...r.resources);
      out.errors.push(...r.errors);
    }
  }
  return out;
}

/** A file is itself; a directory is every .yaml/.yml/.json file below it. Throws ENOENT as istioctl's "stat" error. */
export function listFiles(path: string): string[] {
  const st = statSync(path);
  if (!st.isDirectory()) return [path];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const ent of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const p = join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (/\.(ya?ml|json)$/.test(ent.name)) out.push(p);
    }
  };
  walk(path);
  return out;
}

function documentStart(text: string, doc: Document, lineOf: (offset: number) => number): number {
  const at = doc.range?.[0] ?? 0;
  if (text.startsWith('---', at)) return lineOf(at) + 1;
  return at === 0 || text.slice(0, at).trim() === '' || /^(\s*#.*\n)*\s*$/.test(text.slice(0, at)) ? 1 : lineOf(at);
}

/**
 * The control plane's configs (its store, or /debug/configz) as analysis resources: no file
 * positions, and a Secret's type/data where Kubernetes has them (tsmesh keeps them as its spec).
 */
export function resourcesFromConfigs(configs: readonly object[], opts: LoadOptions = {}): Resource[] {
  return configs.map((c) => {
    const { origin: _origin, ...obj } = c as Record<string, any>;
    const whole = obj.kind === 'Secret' && isObject(obj.spec) ? { ...obj, ...obj.spec, spec: undefined } : obj;
    return toResource(whole, undefined, opts, () => undefined);
  });
}

function stringMap(v: unknown): Record<string, string> {
  if (!isObject(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) out[k] = x === null || x === undefined ? '' : String(x);
  return out;
}

export function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
