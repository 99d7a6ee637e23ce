/**
 * The client side of `tsmesh apply` / `tsmesh delete`: find the control plane, read the files,
 * validate them here first (so a bad file is reported with its name and nothing is sent), post
 * everything in one request (the control plane applies all or nothing), and turn the answer into
 * lines for the user.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { parseAllDocuments } from 'yaml';
import { isClusterScoped } from '../api/kinds.ts';
import { listConfigFiles, loadText } from '../api/load.ts';
import { formatValidationError, isError, type ValidationError } from '../api/types.ts';
import { parseDocuments } from '../api/yaml.ts';
import { displayPath } from '../demo/config_copy.ts';
import { findControlPlane, noControlPlane } from './controlplane_client.ts';

// Where the control plane is: shared with the read commands (src/cli/controlplane_client.ts).
export { DEFAULT_CONTROLPLANE, findControlPlane, type ControlPlaneRef } from './controlplane_client.ts';

export type Operation = 'apply' | 'delete';

export interface InputFile {
  /** As shown to the user ("-" for stdin). */
  name: string;
  text: string;
}

/** Reads `-f` arguments: files, directories (recursively, .yaml/.yml/.json) or "-" for stdin. */
export async function readInputs(paths: readonly string[], readStdin: () => Promise<string>): Promise<{ files: InputFile[]; errors: string[] }> {
  const files: InputFile[] = [];
  const errors: string[] = [];
  for (const p of paths) {
    if (p === '-') {
      files.push({ name: '-', text: await readStdin() });
      continue;
    }
    let list: string[];
    try {
      list = listConfigFiles(p);
    } catch (e) {
      errors.push(`${p}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    if (list.length === 0) errors.push(`${p}: no .yaml, .yml or .json files`);
    for (const f of list) {
      try {
        files.push({ name: displayPath(f), text: readFileSync(f, 'utf8') });
      } catch (e) {
        errors.push(`${f}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
  }
  return { files, errors };
}

/**
 * `-n <namespace>` as kubectl applies it: every namespaced resource without metadata.namespace
 * gets it (comments and layout kept); one that names another namespace is refused, with
 * kubectl's message; cluster-scoped kinds (Namespace) are left alone.
 */
export function withNamespace(file: InputFile, namespace: string): { file: InputFile; errors: string[] } {
  const docs = parseAllDocuments(file.text);
  const errors: string[] = [];
  // A file that does not parse is sent as it is: validation names its problem.
  if (!Array.isArray(docs) || docs.some((d) => d.errors.length > 0)) return { file, errors };
  for (const d of docs) {
    const kind = d.get('kind');
    if (typeof kind !== 'string' || isClusterScoped(kind as never)) continue;
    const ns = d.getIn(['metadata', 'namespace']);
    if (ns === undefined || ns === null || ns === '') {
      if (d.get('metadata') !== undefined) d.setIn(['metadata', 'namespace'], namespace);
    } else if (ns !== namespace) {
      errors.push(
        `${file.name}: ${resourceLabel(kind, String(ns), String(d.getIn(['metadata', 'name']) ?? '?'))}: the namespace from the provided object "${String(ns)}" does not match the namespace "${namespace}". You must pass '--namespace=${String(ns)}' to perform this operation.`,
      );
    }
  }
  // Each document keeps its own "---" so that they stay apart when joined.
  const text = docs
    .map((d) => {
      d.directives.docStart = true;
      return d.toString();
    })
    .join('');
  return { file: { name: file.name, text }, errors };
}

export interface LocalCheck {
  errors: ValidationError[];
  warnings: ValidationError[];
  /** "Kind ns/name" → file, to put file names on the server's messages. */
  resources: Map<string, string>;
}

/** Apply: full validation of every resource. Delete: only that each document names a resource. */
export function checkLocally(files: readonly InputFile[], op: Operation): LocalCheck {
  const out: LocalCheck = { errors: [], warnings: [], resources: new Map() };
  for (const f of files) {
    const entries = op === 'apply' ? loadText(f.text, { file: f.name }) : parseDocuments(f.text, { file: f.name });
    for (const e of entries) {
      for (const err of e.errors) (isError(err) ? out.errors : out.warnings).push(err);
      if (!e.config) continue;
      const label = resourceLabel(e.config.kind, e.config.metadata.namespace, e.config.metadata.name);
      const prev = out.resources.get(label);
      if (prev !== undefined) out.warnings.push({ file: f.name, kind: e.config.kind, namespace: e.config.metadata.namespace, name: e.config.metadata.name, path: '', message: `also in ${prev}: the last one wins`, severity: 'warning' });
      out.resources.set(label, f.name);
    }
  }
  return out;
}

export function resourceLabel(kind: string, namespace: string, name: string): string {
  return `${kind} ${namespace ? `${namespace}/` : ''}${name}`;
}

export interface HttpAnswer {
  status: number;
  body: string;
}

export class UnreachableError extends Error {
  constructor(readonly url: string, readonly code: string) {
    super(`no control plane at ${url} (${describeCode(code)})`);
  }
}

function describeCode(code: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ETIMEDOUT':
      return 'timed out';
    case 'ENOTFOUND':
      return 'unknown host';
    case 'ECONNRESET':
      return 'connection reset';
    default:
      return code;
  }
}

/** POST `body` as application/yaml to `<base>/apis/v1/<op>`. Rejects with UnreachableError when nothing answers. */
export function post(base: string, op: Operation, body: string, file?: string, timeoutMs = 30_000): Promise<HttpAnswer> {
  // ?file= lets the control plane name the file in its messages (and in what it stores).
  const url = `${base}/apis/v1/${op}${file ? `?file=${encodeURIComponent(file)}` : ''}`;
  return new Promise((resolvePost, reject) => {
    let req;
    try {
      req = request(url, { method: 'POST', agent: false, timeout: timeoutMs, headers: { 'content-type': 'application/yaml', 'content-length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolvePost({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e: NodeJS.ErrnoException) => reject(new UnreachableError(base, e.code ?? e.message)));
      });
    } catch (e) {
      reject(new UnreachableError(base, (e as Error).message));
      return;
    }
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => reject(new UnreachableError(base, e.code ?? e.message)));
    req.end(body);
  });
}

export interface RunResult {
  code: number;
  /** Lines for stdout. */
  out: string[];
  /** Lines for stderr. */
  err: string[];
}

export interface RunOptions {
  op: Operation;
  paths: string[];
  /** -n / --namespace: the namespace of resources that name none (kubectl's flag). */
  namespace?: string;
  controlplane?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  readStdin?: () => Promise<string>;
}

/** The whole command, without touching process.stdout / exit codes (the CLI prints the result). */
export async function runApply(o: RunOptions): Promise<RunResult> {
  const res: RunResult = { code: 0, out: [], err: [] };
  const fail = (line: string): RunResult => {
    res.err.push(line);
    res.code = 1;
    return res;
  };
  if (o.paths.length === 0) return fail(`tsmesh ${o.op}: -f <file|dir|-> is required`);
  const input = await readInputs(o.paths, o.readStdin ?? readAllStdin);
  if (input.errors.length > 0) {
    res.err.push(...input.errors);
    return fail(`nothing ${pastTense(o.op)}`);
  }
  if (o.namespace !== undefined) {
    const mismatched: string[] = [];
    input.files = input.files.map((f) => {
      const r = withNamespace(f, o.namespace!);
      mismatched.push(...r.errors);
      return r.file;
    });
    if (mismatched.length > 0) {
      res.err.push(...mismatched.map((e) => `error: ${e}`));
      return fail(`nothing ${pastTense(o.op)}`);
    }
  }
  const local = checkLocally(input.files, o.op);
  for (const w of local.warnings) res.err.push(formatValidationError(w));
  if (local.errors.length > 0) {
    for (const e of local.errors) res.err.push(formatValidationError(e));
    return fail(`nothing ${pastTense(o.op)}: ${local.errors.length} error(s)`);
  }
  if (local.resources.size === 0) return fail(`no resources in ${input.files.map((f) => f.name).join(', ')}: nothing ${pastTense(o.op)}`);

  const cp = findControlPlane(o.controlplane, o.env ?? process.env, o.cwd ?? process.cwd());
  // One request: the control plane applies all of it or none of it.
  const body = input.files.map((f) => f.text.replace(/\s*$/, '\n')).join('---\n');
  let answer: HttpAnswer;
  try {
    answer = await post(cp.url, o.op, body, input.files.length === 1 ? input.files[0]!.name : undefined);
  } catch (e) {
    if (!(e instanceof UnreachableError)) throw e;
    return fail(noControlPlane(cp, e.code));
  }
  const json = parseJson(answer.body);
  const doneKey = o.op === 'apply' ? 'applied' : 'deleted';
  if (answer.status === 200 && json && Array.isArray(json[doneKey])) {
    for (const r of json[doneKey]) res.out.push(`${doneKey} ${String(r)}`);
    // Cross-resource findings (istioctl analyze's kind): applied anyway, as Istio would, but shown.
    // Fields not enforced yet come back from the control plane too: print those we already did once.
    const shown = local.warnings.map((w) => formatValidationError({ ...w, severity: undefined, file: undefined, line: undefined, column: undefined }));
    if (Array.isArray(json.warnings)) for (const w of json.warnings) if (!shown.some((t) => String(w).endsWith(t))) res.err.push(`warning: ${withFile(String(w), local.resources)}`);
    if (json[doneKey].length === 0) res.out.push(`nothing ${doneKey}`);
    return res;
  }
  const errors = serverErrors(answer, json).map((e) => withFile(e, local.resources));
  res.err.push(...errors);
  if (answer.status === 404 && o.op === 'delete') return fail(`nothing deleted: not found on the control plane at ${cp.url}`);
  // 400 invalid, 409 conflict (e.g. the resource sits in a multi-document file): rejected as a whole.
  const rejected = answer.status === 400 || answer.status === 409;
  return fail(rejected ? `nothing ${pastTense(o.op)}: the control plane rejected it (${errors.length} error(s))` : `nothing ${pastTense(o.op)}: ${cp.url} answered HTTP ${answer.status}`);
}

function pastTense(op: Operation): string {
  return op === 'apply' ? 'applied' : 'deleted';
}

function parseJson(s: string): Record<string, any> | undefined {
  try {
    const v = JSON.parse(s);
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function serverErrors(a: HttpAnswer, json: Record<string, any> | undefined): string[] {
  if (json && Array.isArray(json.errors)) return json.errors.map((e: unknown) => (typeof e === 'string' ? e : JSON.stringify(e)));
  if (json && Array.isArray(json.notFound)) return json.notFound.map((e: unknown) => `not found: ${String(e)}`);
  if (json && typeof json.error === 'string') return [json.error];
  const text = a.body.trim();
  return text ? [text.split('\n')[0]!.slice(0, 500)] : [];
}

/**
 * The control plane names the request, not our files: where an error names a resource we read
 * from a file, put that file in front instead.
 */
export function withFile(error: string, resources: Map<string, string>): string {
  for (const [label, file] of resources) {
    // The label as a whole word: followed by ":" or " " ("... not found"), not "reviews-v2".
    const m = new RegExp(`${escapeRegExp(label)}(?=[: ]|$)`).exec(error);
    if (!m) continue;
    const at = m.index;
    if (error.startsWith(`${file}:`)) return error;
    return `${file}: ${error.slice(at)}`;
  }
  return error;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function readAllStdin(): Promise<string> {
  return new Promise((resolveRead, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolveRead(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}
